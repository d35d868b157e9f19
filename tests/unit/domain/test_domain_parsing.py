"""Command envelope parsing: envelope field rules, unknown commands, payload registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from domain_gwt import CASE_ID, VALID_PAYLOADS, Scenario

from supportes.aggregates import (
    COMMAND_PAYLOADS,
    ROUTES,
    Rejection,
    accepted_result,
    parse_command,
    rejected_result,
    salvage_uuid,
)


def raw(**changes: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "command_id": "6f1d3c1a-8a0e-4a53-9c55-2f2f0b1e8d01",
        "type": "OpenCase",
        "aggregate_id": str(CASE_ID),
        "expected_version": None,
        "issued_at": "2026-11-22T10:00:00Z",
        "actor": {"id": "agent:maria", "kind": "agent"},
        "payload": VALID_PAYLOADS["OpenCase"],
    }
    envelope.update(changes)
    return envelope


def rejection_of(envelope: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        parse_command(envelope)
    return caught.value


def test_a_valid_envelope_parses() -> None:
    command = parse_command(raw(issued_at="2026-11-22T11:00:00+01:00"))
    assert command.issued_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert command.correlation_id == command.command_id
    assert command.expected_version is None
    assert command.type == "OpenCase"


def test_correlation_id_is_carried() -> None:
    cid = "0b8f1c9e-3c1a-4d7e-8f00-7a6b5c4d3e2f"
    assert parse_command(raw(correlation_id=cid)).correlation_id == UUID(cid)


def test_to_envelope_round_trips() -> None:
    command = parse_command(
        raw(expected_version=0, payload={**VALID_PAYLOADS["OpenCase"], "tags": ["a"]})
    )
    assert parse_command(command.to_envelope()) == command


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"command_id": "not-a-uuid"}, "command_id"),
        ({"command_id": None}, "command_id"),
        ({"aggregate_id": "x"}, "aggregate_id"),
        ({"expected_version": -1}, "expected_version"),
        ({"expected_version": True}, "expected_version"),
        ({"expected_version": "1"}, "expected_version"),
        ({"expected_version": 1.0}, "expected_version"),
        ({"issued_at": "2026-11-22T10:00:00"}, "issued_at"),
        ({"issued_at": "yesterday"}, "issued_at"),
        ({"issued_at": 1700000000}, "issued_at"),
        ({"issued_at": "2026-11-22"}, "issued_at"),
        ({"actor": {"id": "agent:maria", "kind": "robot"}}, "actor.kind"),
        ({"actor": {"id": " ", "kind": "agent"}}, "actor.id"),
        ({"actor": {"id": "a", "kind": "agent", "role": "x"}}, "actor.role"),
        ({"actor": "agent:maria"}, "actor"),
        ({"payload": ["x"]}, "payload"),
        ({"type": ""}, "type"),
        ({"type": 3}, "type"),
        ({"hello": "world"}, "hello"),
        ({"correlation_id": "nope"}, "correlation_id"),
    ],
)
def test_envelope_field_rules(changes: dict[str, Any], field: str) -> None:
    rejection = rejection_of(raw(**changes))
    assert (rejection.code, rejection.field) == ("invalid", field)
    assert rejection.message.startswith(field)


@pytest.mark.parametrize("missing", ["command_id", "type", "aggregate_id", "issued_at", "actor"])
def test_required_envelope_fields(missing: str) -> None:
    envelope = raw()
    del envelope[missing]
    rejection = rejection_of(envelope)
    assert (rejection.code, rejection.field) == ("invalid", missing)
    assert "required" in rejection.message


def test_payload_may_be_omitted_for_commands_without_fields() -> None:
    envelope = raw(type="Close")
    del envelope["payload"]
    assert parse_command(envelope).type == "Close"


def test_not_an_object() -> None:
    rejection = rejection_of(["OpenCase"])
    assert (rejection.code, rejection.field) == ("invalid", None)


@pytest.mark.parametrize("type_", ["DeleteCase", "opencase", "Case.Opened"])
def test_unknown_command(type_: str) -> None:
    rejection = rejection_of(raw(type=type_))
    assert (rejection.code, rejection.field) == ("unknown_command", "type")
    assert rejection.as_error() == {
        "code": "unknown_command",
        "message": f"unknown command type {type_!r}",
        "field": "type",
    }


def test_unknown_command_through_the_scenario_helper() -> None:
    Scenario(CASE_ID).when("MergeCases").rejected("unknown_command", "type")


def test_every_command_has_a_model_a_route_and_an_example() -> None:
    assert set(COMMAND_PAYLOADS) == set(ROUTES) == set(VALID_PAYLOADS)
    assert len(ROUTES) == 28


@pytest.mark.parametrize("type_", sorted(VALID_PAYLOADS))
def test_example_payloads_parse(type_: str) -> None:
    assert parse_command(raw(type=type_, payload=VALID_PAYLOADS[type_])).type == type_


def test_the_message_is_plain_words() -> None:
    rejection = rejection_of(raw(payload={**VALID_PAYLOADS["OpenCase"], "channel": "fax"}))
    assert rejection.message == (
        "payload.channel: must be one of 'email', 'phone', 'chat', 'web', 'social' or 'in_person'"
    )


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (
            {"command_id": "6f1d3c1a-8a0e-4a53-9c55-2f2f0b1e8d01"},
            "6f1d3c1a-8a0e-4a53-9c55-2f2f0b1e8d01",
        ),
        ({"command_id": "nope"}, None),
        ({"command_id": 5}, None),
        ({}, None),
        ("not a dict", None),
    ],
)
def test_salvage_command_id(envelope: object, expected: str | None) -> None:
    found = salvage_uuid(envelope, "command_id")
    assert (None if found is None else str(found)) == expected


def test_result_envelopes() -> None:
    s = Scenario(CASE_ID)
    outcome = s.when("OpenCase")
    assert outcome.decision is not None
    command = parse_command(outcome.raw)
    result = accepted_result(command, outcome.decision)
    assert result == {
        "command_id": outcome.raw["command_id"],
        "status": "accepted",
        "aggregate_id": str(CASE_ID),
        "version": 1,
        "events": [
            {
                "event_id": outcome.decision.events[0]["event_id"],
                "type": "CaseOpened",
                "version": 1,
            }
        ],
        "error": None,
    }
    rejection = s.when("OpenCase").rejected("already_exists", "aggregate_id")
    assert rejected_result(command.command_id, CASE_ID, 1, rejection) == {
        "command_id": outcome.raw["command_id"],
        "status": "rejected",
        "aggregate_id": str(CASE_ID),
        "version": 1,
        "events": [],
        "error": {"code": "already_exists", "message": rejection.message, "field": "aggregate_id"},
    }
