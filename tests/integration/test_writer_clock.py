"""A real writer refuses commands dated too far ahead of its clock, never re-checks decided
events, and copies ``via`` from commands onto the events it writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from supportes.aggregates import verify_chain
from supportes.aggregates.values import rfc3339
from supportes.client import SupportesClient
from tests.conftest import Isolated
from tests.support.commands import command, open_case
from tests.support.log import read_topic, running_writer

MAIL = {"id": "integration:mail", "kind": "integration"}


def _dated(envelope: dict[str, Any], moment: datetime) -> dict[str, Any]:
    return {**envelope, "issued_at": rfc3339(moment)}


def _events_of(isolated: Isolated, case_id: str) -> list[dict[str, Any]]:
    events = [e for *_, e in read_topic(isolated.settings, "events")]
    return [e for e in events if e["aggregate_id"] == case_id]


def test_a_command_dated_9999_is_rejected_and_one_a_minute_ahead_accepted(
    isolated: Isolated,
) -> None:
    settings = isolated.settings
    case_id, never_opened = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assign = command("Assign", case_id, {"agent_id": "agent:tom"})
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit(
            [
                _dated(open_case(case_id), now),
                _dated(command("Acknowledge", case_id), far),
                _dated(open_case(never_opened), far),
                _dated(assign, now + timedelta(minutes=1)),
            ],
            timeout_s=60,
        )
    opened, too_late, late_opening, soon = results
    assert opened["status"] == soon["status"] == "accepted"
    assert soon["version"] == 2
    for rejected, version in ((too_late, 1), (late_opening, 0)):
        assert rejected["status"] == "rejected"
        assert rejected["version"] == version
        error = rejected["error"]
        assert (error["code"], error["field"]) == ("invalid", "issued_at")
        assert "5 minutes" in error["message"]
        assert "SUPPORTES_MAX_CLOCK_SKEW" in error["message"]
    assert [e["type"] for e in _events_of(isolated, case_id)] == ["CaseOpened", "CaseAssigned"]
    assert _events_of(isolated, never_opened) == []


def test_decided_events_are_never_checked_against_the_clock_again(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    ahead = datetime.now(UTC) + timedelta(hours=2)
    lenient = settings.model_copy(update={"max_clock_skew": timedelta(hours=3)})
    with running_writer(lenient, isolated.group_id), SupportesClient(settings) as client:
        (first,) = client.submit([_dated(open_case(case_id), ahead)], timeout_s=60)
    assert first["status"] == "accepted"
    # A strict writer loads the case (an event two hours "ahead" of its clock) and goes on.
    strict = settings.model_copy(update={"max_clock_skew": timedelta(minutes=5)})
    with running_writer(strict, isolated.group_id), SupportesClient(settings) as client:
        later = _dated(command("Acknowledge", case_id), ahead + timedelta(minutes=1))
        refused, accepted = client.submit(
            [later, _dated(command("Acknowledge", case_id), datetime.now(UTC))], timeout_s=60
        )
    assert refused["error"]["field"] == "issued_at"
    assert accepted["status"] == "accepted"
    assert accepted["version"] == 2


def test_via_is_copied_onto_the_events_and_chained(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    opening = {**open_case(case_id), "via": MAIL}
    contact = {
        **command(
            "RecordContact",
            case_id,
            {"direction": "inbound", "channel": "email", "summary": "one more thing"},
            minutes=1,
            actor="customer:1",
        ),
        "via": MAIL,
    }
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit(
            [opening, contact, command("Acknowledge", case_id, minutes=2)], timeout_s=60
        )
    assert [r["status"] for r in results] == ["accepted"] * 3
    events = _events_of(isolated, case_id)
    assert [e.get("via") for e in events] == [MAIL, MAIL, None]
    assert "via" not in events[2]
    assert events[0]["actor"] == {"id": "customer:1", "kind": "customer"}
    assert verify_chain(events).ok
