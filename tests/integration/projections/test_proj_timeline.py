"""case_timeline and root_cause_timeline: one row per event, with a human summary."""

from __future__ import annotations

from typing import Any

from supportes.projections.base import LoggedEvent
from tests.conftest import Isolated
from tests.integration.projections.stories import due
from tests.support.history import History, apply_all, at, rows

CASE = "00000000-0000-4000-8000-0000000000a1"
ROOT = "00000000-0000-4000-8000-0000000000a2"


def _history() -> History:
    h = History()
    h.run("OpenCase", CASE, {"customer_id": "customer:ann", "channel": "email",
          "subject": "Router drops", "description": "It drops\nevery hour",
          "priority": "high"}, minutes=0, actor="customer:ann")  # fmt: skip
    h.run("Acknowledge", CASE, {"message": "On it"}, minutes=1)
    h.run("Assign", CASE, {"agent_id": "agent:bob", "reason": "queue"}, minutes=2)
    h.run("RecordContact", CASE, {"direction": "inbound", "channel": "phone",
          "summary": "Tab\there"}, minutes=3, actor="customer:ann")  # fmt: skip
    h.run("Escalate", CASE, {"to_agent_id": "agent:lead", "reason": "needs refund authority"},
          minutes=4, actor="agent:bob")  # fmt: skip
    h.run("ScheduleCallback", CASE, {"due_at": due(60)}, minutes=5, actor="agent:lead")
    h.run("ApplyFix", CASE, {"kind": "answer", "summary": "Reset", "known_answer_id": "KB-7"},
          minutes=6, actor="agent:lead")  # fmt: skip
    h.run("Resolve", CASE, {"resolution": "Reset fixed it"}, minutes=7, actor="agent:lead")
    h.run("RecordFollowUp", CASE, {"outcome": "not_resolved"}, minutes=8, actor="agent:lead")
    h.run("IdentifyRootCause", ROOT, {"title": "Firmware", "description": "Bug"}, minutes=9)
    h.run("LinkRootCause", CASE, {"root_cause_id": ROOT}, minutes=10)
    h.run("PlanPreventiveAction", ROOT, {"action_id": "a1", "kind": "bug_fix",
          "description": "Patch", "owner_id": "agent:dev"}, minutes=11)  # fmt: skip
    return h


def _row(e: LoggedEvent, key: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    env = e.envelope
    return {
        key: str(e.aggregate_id), "version": e.version, "event_id": env["event_id"],
        "type": e.type, "occurred_at": e.occurred_at, "actor_id": env["actor"]["id"],
        "actor_kind": env["actor"]["kind"], "summary": summary, "payload": payload,
        "command_id": env["command_id"], "correlation_id": env["correlation_id"],
        "partition": e.partition, "offset": e.offset, "via_id": None, "via_kind": None,
    }  # fmt: skip


def test_timelines(isolated: Isolated) -> None:
    h = _history()
    apply_all(isolated.dsn, h.events, batch_size=4)
    case = [e for e in h.events if str(e.aggregate_id) == CASE]
    root = [e for e in h.events if str(e.aggregate_id) == ROOT]
    assert [e.version for e in case] == list(range(1, 12))
    expected_case = [
        _row(case[0], "case_id", "Opened by customer:ann via email (high): Router drops",
             {"customer_id": "customer:ann", "channel": "email", "subject": "Router drops",
              "description": "It drops\nevery hour", "priority": "high", "category": None,
              "product": None, "tags": [], "reference": case[0].payload["reference"],
              "follow_up_of": None, "suggested_owner_id": None}),
        _row(case[1], "case_id",
             f"Acknowledged via email with reference {case[0].payload['reference']}",
             {"reference": case[0].payload["reference"], "channel": "email",
              "message": "On it"}),
        _row(case[2], "case_id", "Assigned to agent:bob: queue",
             {"agent_id": "agent:bob", "reason": "queue", "previous_owner_id": None}),
        _row(case[3], "case_id", "Inbound phone contact: Tab here",
             {"direction": "inbound", "channel": "phone", "summary": "Tab\there"}),
        _row(case[4], "case_id", "Escalated to agent:lead: needs refund authority",
             {"to_agent_id": "agent:lead", "reason": "needs refund authority",
              "authority": None, "previous_owner_id": "agent:bob",
              "previous_responsible_id": None}),
        _row(case[5], "case_id", f"Callback scheduled for {due(60)} with agent:lead",
             {"due_at": due(60), "agent_id": "agent:lead"}),
        _row(case[6], "case_id", "Fix applied (answer): Reset [known answer KB-7]",
             {"kind": "answer", "summary": "Reset", "known_answer_id": "KB-7"}),
        _row(case[7], "case_id", "Resolved (credited to agent:lead): Reset fixed it",
             {"resolution": "Reset fixed it", "owner_id": "agent:lead"}),
        _row(case[8], "case_id", "Follow-up recorded: not_resolved",
             {"outcome": "not_resolved", "note": None}),
        _row(case[9], "case_id", "Reopened: follow-up: not resolved (suggested owner agent:lead)",
             {"reason": "follow-up: not resolved", "suggested_owner_id": "agent:lead"}),
        _row(case[10], "case_id", f"Linked to root cause {ROOT}",
             {"root_cause_id": ROOT, "previous_root_cause_id": None}),
    ]  # fmt: skip
    assert rows(isolated.dsn, "SELECT * FROM proj.case_timeline ORDER BY case_id, version") == (
        expected_case
    )
    expected_root = [
        _row(root[0], "root_cause_id", "Identified: Firmware",
             {"title": "Firmware", "description": "Bug", "category": None, "product": None}),
        _row(root[1], "root_cause_id", f"Case {CASE} attached",
             {"case_id": CASE, "recurrence": False}),
        _row(root[2], "root_cause_id",
             "Preventive action a1 planned (bug_fix, owner agent:dev): Patch",
             {"action_id": "a1", "kind": "bug_fix", "description": "Patch",
              "owner_id": "agent:dev", "due_at": None}),
    ]  # fmt: skip
    assert (
        rows(isolated.dsn, "SELECT * FROM proj.root_cause_timeline ORDER BY root_cause_id, version")
        == expected_root
    )
    assert root[1].envelope["actor"] == {"id": "system:supportes", "kind": "system"}
    assert case[9].occurred_at == at(8)


def test_long_texts_are_cut_in_the_summary_but_kept_in_the_payload(isolated: Isolated) -> None:
    h = History()
    text = "word " * 200
    h.run("OpenCase", CASE, {"customer_id": "c", "channel": "web", "subject": "S",
          "description": "D"}, minutes=0, actor="customer:c")  # fmt: skip
    h.run("NoteSuggestion", CASE, {"suggestion": text}, minutes=1)
    apply_all(isolated.dsn, h.events)
    (row,) = rows(isolated.dsn, "SELECT summary, payload FROM proj.case_timeline WHERE version = 2")
    assert len(row["summary"]) == 240
    assert row["summary"].startswith("Suggestion noted: word word")
    assert row["summary"].endswith("\u2026")
    assert row["payload"] == {"suggestion": text}
