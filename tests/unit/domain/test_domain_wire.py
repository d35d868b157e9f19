"""Event envelopes: format, determinism, upcasting, rebuild and decode errors."""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from uuid import UUID, uuid5

import pytest
from domain_gwt import CASE_ID, CLOSED, OPEN_CASE, RESOLVED, ROOT_CAUSE_ID, Scenario, case
from hypothesis import given
from hypothesis import strategies as st

from supportes.aggregates import (
    EVENT_TYPES,
    Case,
    EnvelopeError,
    apply_envelope,
    decide,
    from_envelope,
    last_hash_of,
    parse_command,
    rebuild,
    state_of,
    verify_chain,
)
from supportes.aggregates.hashchain import seal
from supportes.aggregates.wire import ENVELOPE_KEYS, event_id_for, event_id_text

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_envelope_shape() -> None:
    s = case(*CLOSED)
    for n, envelope in enumerate(s.events, start=1):
        assert list(envelope) == list(ENVELOPE_KEYS)
        assert envelope["version"] == n
        assert envelope["aggregate_type"] == "Case"
        assert envelope["aggregate_id"] == str(CASE_ID)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", envelope["occurred_at"])
        assert HEX64.match(envelope["hash"])
        assert envelope["prev_hash"] == (None if n == 1 else s.events[n - 2]["hash"])
        assert envelope["correlation_id"] == envelope["command_id"]
        assert envelope["event_id"] == str(uuid5(UUID(envelope["command_id"]), f"{CASE_ID}:{n}"))
    assert s.events[0]["schema_version"] == 3


def test_registry_names_are_stable_and_unique() -> None:
    names = [t.name for t in EVENT_TYPES]
    assert len(names) == len(set(names)) == 28
    assert {t.name: t.schema_version for t in EVENT_TYPES if t.schema_version != 1} == {
        "CaseOpened": 3
    }


def test_occurred_at_is_issued_at_in_utc_with_microseconds_kept() -> None:
    s = Scenario(CASE_ID)
    s.when("OpenCase", issued_at="2026-11-22T12:00:00.123456+02:00").then("CaseOpened")
    assert s.events[0]["occurred_at"] == "2026-11-22T10:00:00.123456Z"
    assert state_of(rebuild(s.events)) == s.state  # type: ignore[arg-type]


def test_re_deciding_the_same_command_is_byte_identical() -> None:
    s = case("Acknowledge", "Assign")
    command = parse_command(s.command("Resolve"))
    first = decide(command, s.aggregate, last_hash=last_hash_of(s.aggregate))
    again = decide(command, s.aggregate, last_hash=last_hash_of(s.aggregate))
    assert json.dumps(first.events) == json.dumps(again.events)
    assert first.follow_on_commands == again.follow_on_commands


def test_follow_on_command_ids_are_deterministic() -> None:
    s = case()
    command = parse_command(s.command("LinkRootCause"))
    ids = {
        decide(command, s.aggregate, last_hash=None).follow_on_commands[0]["command_id"]
        for _ in range(2)
    }
    assert len(ids) == 1
    follow_on = decide(command, s.aggregate, last_hash=None).follow_on_commands[0]
    assert parse_command(follow_on).type == "AttachCase"


def test_follow_on_attach_case_is_accepted_by_the_root_cause() -> None:
    s = case()
    link = s.when("LinkRootCause")
    assert link.decision is not None
    rc = Scenario(ROOT_CAUSE_ID).given("IdentifyRootCause")
    outcome = rc.submit(link.decision.follow_on_commands[0])
    outcome.then("CaseAttached")
    assert rc.events[-1]["actor"] == {"id": "system:supportes", "kind": "system"}
    assert rc.events[-1]["correlation_id"] == link.raw["command_id"]


def test_decide_leaves_the_given_aggregate_untouched() -> None:
    s = case("Acknowledge")
    before = state_of(s.aggregate)  # type: ignore[arg-type]
    decide(parse_command(s.command("Assign")), s.aggregate, last_hash=last_hash_of(s.aggregate))
    assert state_of(s.aggregate) == before  # type: ignore[arg-type]


def test_last_hash_is_kept_on_the_aggregate() -> None:
    s = case("Acknowledge")
    assert last_hash_of(s.aggregate) == s.events[-1]["hash"]
    rebuilt = rebuild(s.events)
    assert last_hash_of(rebuilt) == s.events[-1]["hash"]
    assert last_hash_of(None) is None


def test_rebuild_from_json_equals_the_deciding_aggregate() -> None:
    s = case(*RESOLVED, "RecordFollowUp", "Reopen", "Escalate", "Resolve", "WaiveFollowUp", "Close")
    rebuilt = rebuild(json.loads(json.dumps(s.events)))
    assert isinstance(rebuilt, Case)
    assert state_of(rebuilt) == s.state
    assert rebuild([]) is None


def test_rebuild_onto_a_cached_aggregate() -> None:
    s = case(*RESOLVED)
    cached = rebuild(s.events[:2])
    assert cached is not None
    continued = rebuild(s.events[2:], onto=cached)
    assert continued is not None
    assert state_of(continued) == s.state
    assert cached.version == 2  # not mutated


def test_audit_key_changes_the_hash() -> None:
    plain = case()
    keyed = Scenario(CASE_ID, audit_key=b"secret").given("OpenCase")
    assert plain.events[0]["hash"] != keyed.events[0]["hash"]
    assert verify_chain(keyed.events, key=b"secret").ok
    assert not verify_chain(keyed.events).ok


# --- upcasting -------------------------------------------------------------------------------


def v1_case_opened() -> dict[str, Any]:
    """A CaseOpened as written by schema v1 (no tags), sealed as it was stored."""
    envelope = copy.deepcopy(case().events[0])
    for name in ("tags", "follow_up_of", "suggested_owner_id"):
        del envelope["payload"][name]
    envelope["schema_version"] = 1
    return seal(envelope)


def v2_case_opened() -> dict[str, Any]:
    """A CaseOpened as written by schema v2 (no follow_up_of, no suggested_owner_id)."""
    envelope = copy.deepcopy(case().events[0])
    del envelope["payload"]["follow_up_of"], envelope["payload"]["suggested_owner_id"]
    envelope["schema_version"] = 2
    return seal(envelope)


def test_v1_case_opened_is_upcast_to_v2() -> None:
    stored = v1_case_opened()
    assert verify_chain([stored]).ok  # verified as stored, before upcasting
    event = from_envelope(stored)
    assert isinstance(event, Case.CaseOpened)
    assert event.tags == ()
    rebuilt = rebuild([stored])
    assert rebuilt is not None
    assert state_of(rebuilt)["tags"] == []
    assert stored["schema_version"] == 1  # the stored envelope is not modified


def test_v2_case_opened_is_upcast_to_v3_with_no_follow_up() -> None:
    stored = v2_case_opened()
    before = json.dumps(stored, sort_keys=True)
    assert verify_chain([stored]).ok
    event = from_envelope(stored)
    assert isinstance(event, Case.CaseOpened)
    assert (event.follow_up_of, event.suggested_owner_id) == (None, None)
    rebuilt = rebuild([stored])
    assert rebuilt is not None
    assert state_of(rebuilt)["follow_up_of"] is None
    assert json.dumps(stored, sort_keys=True) == before  # read, never rewritten
    v1 = from_envelope(v1_case_opened())  # two steps: v1 -> v2 -> v3
    assert isinstance(v1, Case.CaseOpened)
    assert (v1.tags, v1.follow_up_of) == ((), None)


def test_a_follow_up_case_carries_its_origin_and_suggested_owner() -> None:
    earlier = "6b3f8f0e-3c55-4d5c-9a0e-2f7e5f6c1a11"
    s = Scenario(CASE_ID)
    (payload,) = s.when(
        "OpenCase",
        {**OPEN_CASE, "follow_up_of": earlier, "suggested_owner_id": "agent:tom"},
    ).then("CaseOpened")
    assert (payload["follow_up_of"], payload["suggested_owner_id"]) == (earlier, "agent:tom")
    assert s.state["follow_up_of"] == earlier
    assert s.state["suggested_owner_id"] == "agent:tom"
    assert state_of(rebuild(s.events)) == s.state  # type: ignore[arg-type]
    other = Scenario(uuid5(CASE_ID, "other"))
    other.when("OpenCase", {**OPEN_CASE, "follow_up_of": "SR-1"}).rejected(
        "invalid", "payload.follow_up_of"
    )


def test_a_newer_schema_version_is_refused() -> None:
    envelope = {**case().events[0], "schema_version": 4}
    with pytest.raises(EnvelopeError, match="newer"):
        from_envelope(envelope)


def test_v1_events_then_v2_commands() -> None:
    stored = v1_case_opened()
    s = Scenario(CASE_ID, aggregate=rebuild([stored]), events=[stored])
    s.when("Acknowledge").then("CaseAcknowledged")
    assert verify_chain(s.events).ok
    assert state_of(rebuild(s.events)) == s.state  # type: ignore[arg-type]


# --- decode errors ---------------------------------------------------------------------------


def _mutated(
    change: dict[str, Any], payload_change: dict[str, Any] | None = None
) -> dict[str, Any]:
    envelope = copy.deepcopy(case().events[0])
    envelope.update(change)
    if payload_change is not None:
        envelope["payload"].update(payload_change)
    return envelope


@pytest.mark.parametrize(
    "envelope",
    [
        _mutated({"type": "CaseDeleted"}),
        _mutated({"aggregate_type": "RootCause"}),
        _mutated({"occurred_at": "2026-11-22T10:00:00"}),
        _mutated({"version": "1"}),
        _mutated({}, {"extra": 1}),
        _mutated({}, {"channel": "fax"}),
        _mutated({}, {"tags": "a"}),
        _mutated({}, {"customer_id": 5}),
        {"type": "CaseOpened"},
    ],
)
def test_malformed_envelopes_are_refused(envelope: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeError):
        rebuild([envelope])


def test_events_must_follow_in_order() -> None:
    events = case("Acknowledge", "Assign").events
    with pytest.raises(EnvelopeError, match="version"):
        rebuild([events[0], events[2]])
    with pytest.raises(EnvelopeError):
        rebuild([events[1]])


def test_events_of_another_aggregate_are_refused() -> None:
    own = case("Acknowledge").events
    other = Scenario(ROOT_CAUSE_ID).given("IdentifyRootCause", "ReopenRootCause").events
    with pytest.raises(EnvelopeError):
        rebuild([own[0], other[1]])
    aggregate = rebuild(own[:1])
    with pytest.raises(EnvelopeError):
        apply_envelope(aggregate, {**own[1], "aggregate_id": str(ROOT_CAUSE_ID)})


@given(st.uuids(), st.uuids(), st.integers(1, 10**9))
def test_the_fast_event_id_text_is_the_uuid5_event_id(
    command_id: UUID, aggregate_id: UUID, version: int
) -> None:
    expected = str(uuid5(command_id, f"{aggregate_id}:{version}"))
    assert event_id_text(command_id, aggregate_id, version) == expected
    assert event_id_text(command_id, str(aggregate_id), version) == expected
    assert str(event_id_for(command_id, aggregate_id, version)) == expected
