"""State as of a time (rebuilt from events) and responsibility at a time: pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from supportes.errors import UsageError
from supportes.ops.case_history import HistoryEntry, entry_from_row, state_as_of
from supportes.ops.reports import metrics_totals
from supportes.ops.responsibility_audit import Interval, responsibility_at
from tests.support.commands import command
from tests.support.history import History, at

CASE = "00000000-0000-4000-8000-0000000000a1"


def _history() -> list[HistoryEntry]:
    h = History()
    h.run("OpenCase", CASE, {"customer_id": "customer:ann", "channel": "email",
          "subject": "Router drops", "description": "hourly"}, minutes=0,
          actor="customer:ann")  # fmt: skip
    h.run("Assign", CASE, {"agent_id": "agent:bob"}, minutes=10)
    h.run("Escalate", CASE, {"to_agent_id": "agent:lead", "reason": "refund"}, minutes=30,
          actor="agent:bob")  # fmt: skip
    h.run("Resolve", CASE, {"resolution": "done"}, minutes=40, actor="agent:lead")
    return [
        HistoryEntry(
            version=e.version, type=e.type, occurred_at=e.occurred_at, actor=e.actor_id,
            summary="", topic="t", partition=e.partition, offset=e.offset, hash="",
            envelope=dict(e.envelope),
        )
        for e in h.events
    ]  # fmt: skip


def test_state_as_of_takes_the_events_that_had_happened() -> None:
    history = _history()
    assert state_as_of(history, at(9)).state["status"] == "new"
    assigned = state_as_of(history, at(10))
    assert (assigned.state["status"], assigned.state["owner_id"]) == ("assigned", "agent:bob")
    escalated = state_as_of(history, at(35))
    assert [e.type for e in escalated.entries][-1] == "CaseEscalated"
    assert escalated.state["owner_id"] == "agent:lead"
    assert state_as_of(history, at(1000)).state["status"] == "resolved"


def test_state_as_of_before_the_case_existed_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="did not exist yet"):
        state_as_of(_history(), at(-1))


def _interval(role: str, agent: str, start: int, end: int | None, version: int) -> Interval:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return Interval(
        role=role, agent_id=agent, from_at=base + timedelta(minutes=start),
        from_version=version, to_at=None if end is None else base + timedelta(minutes=end),
        to_version=None, opened_by="agent:x", opened_by_event="E", closed_by=None,
        closed_by_event=None, note=None,
    )  # fmt: skip


def test_responsible_is_the_taker_or_escalation_owner_else_the_assignee() -> None:
    case = UUID(CASE)
    trail = [
        _interval("assignee", "agent:bob", 10, 30, 2),
        _interval("assignee", "agent:lead", 30, None, 3),
        _interval("escalation", "agent:lead", 30, 50, 3),
        _interval("responsible", "agent:dave", 50, None, 5),
    ]
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def who(minute: int) -> Any:
        answer = responsibility_at(case, trail, base + timedelta(minutes=minute))
        return None if answer.responsible is None else answer.responsible.agent_id

    assert who(5) is None
    assert who(10) == "agent:bob"
    assert who(29) == "agent:bob"
    assert who(30) == "agent:lead"  # half-open intervals: the hand-off instant is the new one's
    assert who(49) == "agent:lead"
    assert who(50) == "agent:dave"
    holders = responsibility_at(case, trail, base + timedelta(minutes=40)).holders
    assert holders["assignee"] is not None
    assert holders["assignee"].agent_id == "agent:lead"
    assert holders["responsible"] is None


def test_metrics_totals_weight_rates_and_averages() -> None:
    days = [
        {"opened": 4, "resolved": 2, "first_resolved": 2, "first_contact_resolutions": 1,
         "reopenings": 0, "escalations": 1, "csat_average": 5, "csat_count": 1},
        {"opened": 1, "resolved": 3, "first_resolved": 2, "first_contact_resolutions": 2,
         "reopenings": 1, "escalations": 0, "csat_average": 2, "csat_count": 3},
    ]  # fmt: skip
    totals = metrics_totals(days)
    assert (totals["opened"], totals["resolved"], totals["reopenings"]) == (5, 5, 1)
    assert totals["first_contact_resolution_rate"] == 0.75
    assert totals["csat_average"] == 2.75
    assert metrics_totals([])["csat_average"] is None
    assert totals["fix_twice_rate"] is None  # none needed a root cause


def test_metrics_totals_weight_the_fix_twice_rate() -> None:
    days = [
        {"root_cause_needed": 3, "fixed_twice": 1, "known_answers_given": 2},
        {"root_cause_needed": 1, "fixed_twice": 1, "known_answers_given": 5},
    ]
    totals = metrics_totals(days)
    assert (totals["root_cause_needed"], totals["fixed_twice"]) == (4, 2)
    assert totals["fix_twice_rate"] == 0.5
    assert totals["known_answers_given"] == 7


def test_history_entries_carry_via() -> None:
    h = History()
    opening = {"customer_id": "customer:ann", "channel": "email", "subject": "Router drops",
               "description": "hourly"}  # fmt: skip
    raw = command("OpenCase", CASE, opening, actor="customer:ann")
    (opened,) = h.submit({**raw, "via": {"id": "integration:mail", "kind": "integration"}})
    (assigned,) = h.run("Assign", CASE, {"agent_id": "agent:bob"}, minutes=1)
    rows = [
        {"version": e.version, "type": e.type, "occurred_at": e.occurred_at, "topic": "t",
         "partition": e.partition, "offset": e.offset, "hash": e.envelope["hash"],
         "envelope": dict(e.envelope)}
        for e in (opened, assigned)
    ]  # fmt: skip
    via_entry, plain_entry = (entry_from_row(row) for row in rows)
    assert via_entry.via == {"id": "integration:mail", "kind": "integration"}
    assert via_entry.by == "customer:ann via integration:mail"
    assert via_entry.as_dict()["via"] == via_entry.via
    assert via_entry.as_dict()["actor"] == "customer:ann"
    assert (plain_entry.via, plain_entry.by) == (None, "agent:maria")
    assert plain_entry.as_dict()["via"] is None


def test_intervals_carry_the_via_of_their_hand_offs() -> None:
    base = _interval("assignee", "agent:bob", 0, 10, 2)
    with_via = replace(base, opened_via_id="integration:crm", opened_via_kind="integration",
                       closed_by="agent:lead", closed_via_id="integration:mail",
                       closed_via_kind="integration")  # fmt: skip
    assert with_via.opened_by_text == "agent:x via integration:crm"
    assert with_via.closed_by_text == "agent:lead via integration:mail"
    assert with_via.as_dict()["opened_via"] == {"id": "integration:crm", "kind": "integration"}
    assert with_via.as_dict()["closed_via"] == {"id": "integration:mail", "kind": "integration"}
    assert (base.opened_by_text, base.closed_by_text) == ("agent:x", None)
    assert base.as_dict()["opened_via"] is base.as_dict()["closed_via"] is None
