"""``via``: an integration acting for the actor, from the command into its events and hashes."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

import pytest
from domain_gwt import CASE_ID, CUSTOMER, OPEN_CASE, ROOT_CAUSE_ID, Scenario, case

from supportes.aggregates import (
    EnvelopeError,
    command_envelope,
    from_envelope,
    parse_command,
    rebuild,
    verify_chain,
)
from supportes.aggregates.values import Actor, ActorKind, Via
from supportes.aggregates.wire import ENVELOPE_KEYS, current_envelope

MAIL = {"id": "integration:mail", "kind": "integration"}


def via_case() -> Scenario:
    """A case opened and contacted by the mail gateway on behalf of the customer."""
    s = Scenario(CASE_ID)
    s.when("OpenCase", actor=CUSTOMER, via=MAIL).then("CaseOpened")
    s.when(
        "RecordContact",
        {"direction": "inbound", "channel": "email", "summary": "more details"},
        actor=CUSTOMER,
        via=MAIL,
    ).then("ContactRecorded")
    s.when("Acknowledge").then("CaseAcknowledged")
    return s


def test_the_command_carries_via() -> None:
    raw = Scenario(CASE_ID).command("OpenCase", actor=CUSTOMER, via=MAIL)
    command = parse_command(raw)
    assert command.via == Via(id="integration:mail", kind="integration")
    assert command.to_envelope()["via"] == MAIL
    assert parse_command(command.to_envelope()) == command


def test_without_via_the_command_envelope_has_no_via_key() -> None:
    command = parse_command(Scenario(CASE_ID).command("OpenCase"))
    assert command.via is None
    assert "via" not in command.to_envelope()


def test_command_envelope_writes_via_only_when_given() -> None:
    common: dict[str, Any] = {
        "command_id": UUID(int=1),
        "type": "Acknowledge",
        "aggregate_id": CASE_ID,
        "issued_at": Scenario().clock,
        "actor": Actor(id="customer:42", kind=ActorKind.CUSTOMER),
        "payload": {},
    }
    assert "via" not in command_envelope(**common)
    assert (
        command_envelope(**common, via=Via(id="integration:mail", kind="integration"))["via"]
        == MAIL
    )


@pytest.mark.parametrize(
    ("via", "field"),
    [
        ({"id": "integration:mail", "kind": "agent"}, "via.kind"),
        ({"id": " ", "kind": "integration"}, "via.id"),
        ({"id": "integration:mail"}, "via.kind"),
        ({"id": "integration:mail", "kind": "integration", "extra": 1}, "via.extra"),
        ("integration:mail", "via"),
    ],
)
def test_a_malformed_via_is_invalid(via: Any, field: str) -> None:
    s = Scenario(CASE_ID)
    s.when("OpenCase", via=via).rejected("invalid", field)


def test_events_copy_via_from_their_command() -> None:
    s = via_case()
    opened, contacted, acknowledged = s.events
    assert opened["via"] == contacted["via"] == MAIL
    assert opened["actor"] == CUSTOMER
    assert "via" not in acknowledged
    assert list(acknowledged) == list(ENVELOPE_KEYS)  # no via: the envelope as it always was
    assert verify_chain(s.events).ok
    assert rebuild(s.events) is not None
    assert from_envelope(opened).originator_id == CASE_ID


def test_follow_on_commands_are_the_systems_without_via() -> None:
    s = via_case()
    decision = s.when(
        "LinkRootCause", {"root_cause_id": str(ROOT_CAUSE_ID)}, actor=CUSTOMER, via=MAIL
    ).decision
    assert decision is not None
    assert decision.events[0]["via"] == MAIL
    (follow_on,) = decision.follow_on_commands
    assert follow_on["actor"]["kind"] == "system"
    assert "via" not in follow_on


@pytest.mark.parametrize(
    "change",
    [
        {"via": {"id": "integration:portal", "kind": "integration"}},  # another integration
        {"via": None},  # via removed (set to null)
    ],
)
def test_changing_via_breaks_the_hash_chain(change: dict[str, Any]) -> None:
    s = via_case()
    forged = copy.deepcopy(s.events)
    forged[1].update(change)
    report = verify_chain(forged)
    assert not report.ok
    assert report.first_bad_version == 2
    assert "hash mismatch" in str(report.reason)


def test_dropping_via_or_adding_one_breaks_the_hash_chain() -> None:
    s = via_case()
    dropped = copy.deepcopy(s.events)
    del dropped[0]["via"]
    assert verify_chain(dropped).first_bad_version == 1
    added = copy.deepcopy(s.events)
    added[2]["via"] = MAIL
    assert verify_chain(added).first_bad_version == 3


def test_the_audit_key_covers_via() -> None:
    s = Scenario(CASE_ID, audit_key=b"secret")
    s.when("OpenCase", OPEN_CASE, actor=CUSTOMER, via=MAIL).then("CaseOpened")
    forged = copy.deepcopy(s.events)
    forged[0]["via"]["id"] = "integration:other"
    assert verify_chain(s.events, b"secret").ok
    assert not verify_chain(forged, b"secret").ok


@pytest.mark.parametrize(
    "via",
    [{"id": 5, "kind": "integration"}, {"id": "x", "kind": "agent"}, "integration:mail", {}],
)
def test_a_stored_envelope_with_a_malformed_via_is_refused(via: Any) -> None:
    envelope = {**case().events[0], "via": via}
    with pytest.raises(EnvelopeError, match="via"):
        current_envelope(envelope)


def test_a_stored_envelope_with_a_null_via_is_read() -> None:
    envelope = {**case().events[0], "via": None}
    current_envelope(envelope)
