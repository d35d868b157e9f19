"""``EraseSubject`` -> ``SubjectErased`` on the ``DataSubject`` aggregate (design section 9)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid5

import pytest
from domain_gwt import CASE_ID, OPEN_CASE, T0, VALID_PAYLOADS, Scenario, case

from supportes.aggregates import (
    DataSubject,
    EnvelopeError,
    Rejection,
    apply_envelope,
    from_envelope,
    parse_command,
    rebuild,
    state_of,
    subject_aggregate_id,
    to_envelope,
    verify_chain,
)
from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.data_subject import (
    SUBJECT_NAMESPACE,
    refuse_personal_data_of_erased,
    subject_of_command,
)
from supportes.aggregates.personal import personal_fields
from supportes.aggregates.values import rfc3339

CUSTOMER = VALID_PAYLOADS["EraseSubject"]["customer_id"]
SUBJECT_ID = subject_aggregate_id(CUSTOMER)
FINGERPRINT = "0123456789abcdef" * 4


def subject(**changes: Any) -> Scenario:
    return Scenario(SUBJECT_ID, **changes)


def erase(s: Scenario, **payload: Any) -> Any:
    return s.when("EraseSubject", {**VALID_PAYLOADS["EraseSubject"], **payload})


def test_the_subject_id_is_uuid5_of_a_fixed_namespace_and_the_customer_id() -> None:
    assert subject_aggregate_id("customer:1") == uuid5(SUBJECT_NAMESPACE, "customer:1")
    # Pinned: the CLI and every stored erasure depend on it never changing.
    assert subject_aggregate_id("customer:1") == UUID("bd07ce5f-b531-5577-a63c-aa248659d398")
    assert subject_aggregate_id("customer:1") != subject_aggregate_id("customer:2")


def test_an_erasure_is_accepted_once_and_holds_no_personal_data() -> None:
    s = subject()
    (payload,) = erase(s, key_fingerprints=[FINGERPRINT, "f" * 64]).then("SubjectErased")
    assert payload == {"customer_id": CUSTOMER, "key_fingerprints": [FINGERPRINT, "f" * 64]}
    envelope = s.events[0]
    assert envelope["aggregate_type"] == "DataSubject"
    assert envelope["aggregate_id"] == str(SUBJECT_ID)
    assert envelope["occurred_at"] == rfc3339(s.clock)  # the command's issued_at
    assert envelope["schema_version"] == 1
    assert isinstance(s.aggregate, DataSubject)
    state = s.state
    assert (state["customer_id"], state["key_fingerprints"]) == (CUSTOMER, [FINGERPRINT, "f" * 64])
    assert state["erased_at"] == envelope["occurred_at"]
    assert personal_fields(COMMAND_PAYLOADS["EraseSubject"]) == {}
    assert personal_fields(DataSubject.SubjectErased) == {}


def test_a_second_erasure_of_the_subject_is_already_exists() -> None:
    s = subject()
    erase(s).then("SubjectErased")
    erase(s).rejected("already_exists", "aggregate_id")
    erase(s, key_fingerprints=[]).rejected("already_exists", "aggregate_id")
    assert len(s.events) == 1


def test_no_other_command_applies_to_a_subject() -> None:
    s = subject()
    erase(s).then("SubjectErased")
    s.when("Close").rejected("not_found", "aggregate_id")
    s.when("VerifyFix").rejected("not_found", "aggregate_id")


@pytest.mark.parametrize("aggregate_id", [uuid5(CASE_ID, "elsewhere"), subject_aggregate_id("x")])
def test_another_aggregate_id_is_invalid_naming_aggregate_id(aggregate_id: UUID) -> None:
    s = Scenario(aggregate_id)
    rejection = erase(s).rejected("invalid", "aggregate_id")
    assert str(SUBJECT_ID) in rejection.message
    assert str(SUBJECT_NAMESPACE) in rejection.message
    assert "customer_id" in rejection.message
    assert s.events == []


def test_an_existing_case_id_is_already_exists() -> None:
    s = case()
    rejection = s.when("EraseSubject").rejected("already_exists", "aggregate_id")
    assert "Case" in rejection.message


@pytest.mark.parametrize(
    ("fingerprints", "field", "words"),
    [
        (["AB" * 32], "payload.key_fingerprints[0]", "lowercase hexadecimal"),
        (["ab" * 31], "payload.key_fingerprints[0]", "exactly 64"),
        (["ab" * 32 + "a"], "payload.key_fingerprints[0]", "exactly 64"),
        ([FINGERPRINT, "g" * 64], "payload.key_fingerprints[1]", "hexadecimal"),
        ([" " + "a" * 63], "payload.key_fingerprints[0]", "hexadecimal"),
        ([64], "payload.key_fingerprints[0]", "must be a string"),
        ([None], "payload.key_fingerprints[0]", "must be a string"),
        ("ab" * 32, "payload.key_fingerprints", "list"),
        ([FINGERPRINT] * 101, "payload.key_fingerprints", "at most 100 items"),
    ],
)
def test_fingerprints_are_64_lowercase_hex_characters_at_most_100(
    fingerprints: Any, field: str, words: str
) -> None:
    rejection = erase(subject(), key_fingerprints=fingerprints).rejected("invalid", field)
    assert words in rejection.message


@pytest.mark.parametrize("count", [0, 1, 100])
def test_zero_to_100_fingerprints_are_accepted(count: int) -> None:
    fingerprints = [f"{n:064x}" for n in range(count)]
    (payload,) = erase(subject(), key_fingerprints=fingerprints).then("SubjectErased")
    assert payload["key_fingerprints"] == fingerprints


def test_fingerprints_default_to_an_empty_list() -> None:
    (payload,) = subject().when("EraseSubject", {"customer_id": CUSTOMER}).then("SubjectErased")
    assert payload["key_fingerprints"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"customer_id": " "}, "payload.customer_id"),
        ({"customer_id": 42}, "payload.customer_id"),
        ({}, "payload.customer_id"),
        ({"customer_id": CUSTOMER, "reason": "asked to be forgotten"}, "payload.reason"),
    ],
)
def test_the_customer_id_is_required_and_nothing_else_is_allowed(
    payload: dict[str, Any], field: str
) -> None:
    subject().when("EraseSubject", payload).rejected("invalid", field)


@pytest.mark.parametrize("audit_key", [None, b"audit-key"])
def test_the_event_round_trips_through_the_wire_with_its_hash_chain(
    audit_key: bytes | None,
) -> None:
    s = subject(audit_key=audit_key)
    outcome = erase(s, key_fingerprints=[FINGERPRINT])
    outcome.then("SubjectErased")
    (envelope,) = json.loads(json.dumps(s.events))
    event = from_envelope(envelope)
    assert isinstance(event, DataSubject.SubjectErased)
    assert (event.customer_id, event.key_fingerprints) == (CUSTOMER, (FINGERPRINT,))
    assert event.timestamp == T0.replace(minute=5)
    again = to_envelope(event, parse_command(outcome.raw), prev_hash=None, audit_key=audit_key)
    assert again == envelope
    report = verify_chain(
        [envelope], key=audit_key, expected_last_version=1, expected_last_hash=envelope["hash"]
    )
    assert report.ok, report
    rebuilt = rebuild([envelope])
    assert isinstance(rebuilt, DataSubject)
    assert state_of(rebuilt) == s.state
    assert rebuilt.last_hash == envelope["hash"]


def test_a_tampered_erasure_breaks_the_chain() -> None:
    s = subject()
    erase(s).then("SubjectErased")
    (envelope,) = json.loads(json.dumps(s.events))
    envelope["payload"]["customer_id"] = "cust:43"
    assert not verify_chain([envelope], key=None).ok


def test_a_subject_event_does_not_apply_to_a_case() -> None:
    s = subject()
    erase(s).then("SubjectErased")
    erased = {**s.events[0], "aggregate_id": str(CASE_ID), "version": 2}
    with pytest.raises(EnvelopeError, match="not an event of Case"):
        apply_envelope(case().aggregate, erased)


# --- personal data of an erased customer (the writer's check) --------------------------------


def _parsed(s: Scenario, type_: str, payload: dict[str, Any] | None = None) -> Any:
    return parse_command(s.command(type_, payload))


def test_personal_data_of_an_erased_customer_is_refused_and_the_rest_is_not() -> None:
    opened = case()
    erased = {OPEN_CASE["customer_id"]}
    new_case = Scenario(uuid5(SUBJECT_NAMESPACE, "another case"))
    for command, current in (
        (_parsed(new_case, "OpenCase"), None),  # the customer named in the payload
        (_parsed(opened, "RecordContact"), opened.aggregate),  # the case's customer
        (_parsed(opened, "Resolve", VALID_PAYLOADS["Resolve"]), opened.aggregate),
    ):
        assert subject_of_command(command, current) == OPEN_CASE["customer_id"]
        with pytest.raises(Rejection) as refused:
            refuse_personal_data_of_erased(command, current, erased)
        assert (refused.value.code.value, refused.value.field) == ("subject_erased", "payload")
        refuse_personal_data_of_erased(command, current, {"cust:another"})  # not erased: taken
        refuse_personal_data_of_erased(command, current, set())

    without_text = _parsed(opened, "Assign")
    assert subject_of_command(without_text, opened.aggregate) is None
    refuse_personal_data_of_erased(without_text, opened.aggregate, erased)
    unknown_case = _parsed(Scenario(uuid5(SUBJECT_NAMESPACE, "unknown")), "RecordContact")
    assert subject_of_command(unknown_case, None) is None  # no case: decide rejects it anyway
