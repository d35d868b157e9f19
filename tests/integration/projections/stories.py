"""Scripted histories shared by the projection tests (times are minutes after T0).

``story``: root cause RC1 and three cases.

* A (customer:ann, urgent, billing/router): acknowledged, assigned to bob, escalated by bob to
  lead ("needs refund authority"), known answer KB-1, linked to RC1, resolved, reopened by the
  customer's reply, KB-1 again, resolved, follow-up "not_resolved" (reopens), resolved,
  confirmed, closed, rated 4 (credited to lead), reopened from closed, assigned to carol.
* RC1: identified, A attached, two preventive actions planned and completed, fix verified;
  C attached later (a recurrence: reopens RC1), a third action planned (still open).
* B (customer:ann, billing/router): dave takes responsibility, KB-1, resolved at first contact,
  follow-up waived, rated 5, closed.
* C (customer:bob, no topic, low): assigned to maria, callback for erin, linked to RC1, KB-2;
  never acknowledged.

``extra_cases``: D (resolved, follow-up scheduled) and E (closed, never rated).
"""

from __future__ import annotations

from tests.support.history import History, at

RC1 = "00000000-0000-4000-8000-0000000000c1"
A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"
C = "00000000-0000-4000-8000-00000000000c"
D = "00000000-0000-4000-8000-00000000000d"
E = "00000000-0000-4000-8000-00000000000e"
DAY = 24 * 60


def due(minutes: float) -> str:
    """An RFC 3339 time ``minutes`` after T0 (for ``due_at`` payloads)."""
    return at(minutes).isoformat().replace("+00:00", "Z")


def story(h: History | None = None) -> History:
    """Root cause RC1 and cases A, B, C (see the module docstring)."""
    h = h or History()
    run = h.run
    run("OpenCase", A, {"customer_id": "customer:ann", "channel": "email",
        "subject": "Router drops", "description": "It drops every hour", "priority": "urgent",
        "category": "billing", "product": "router", "tags": ["vip"]},
        minutes=0, actor="customer:ann")  # fmt: skip
    run("IdentifyRootCause", RC1, {"title": "Router firmware bug",
        "description": "Firmware 2.1 drops the line", "category": "billing",
        "product": "router"}, minutes=1, actor="agent:lead")  # fmt: skip
    run("Acknowledge", A, {"channel": "email", "message": "We are on it"}, minutes=5)
    run("Assign", A, {"agent_id": "agent:bob", "reason": "queue"}, minutes=10)
    run("RecordContact", A, {"direction": "inbound", "channel": "phone",
        "summary": "More details"}, minutes=20, actor="customer:ann")  # fmt: skip
    run("Escalate", A, {"to_agent_id": "agent:lead", "reason": "needs refund authority",
        "authority": "refunds"}, minutes=30, actor="agent:bob")  # fmt: skip
    run("ApplyFix", A, {"kind": "answer", "summary": "Reset the router",
        "known_answer_id": "KB-1"}, minutes=40, actor="agent:lead")  # fmt: skip
    run("LinkRootCause", A, {"root_cause_id": RC1}, minutes=45, actor="agent:lead")
    run("Resolve", A, {"resolution": "Reset fixed it"}, minutes=50, actor="agent:lead")
    run("RecordContact", A, {"direction": "inbound", "channel": "email",
        "summary": "Still broken"}, minutes=60, actor="customer:ann")  # fmt: skip
    run("ApplyFix", A, {"kind": "workaround", "summary": "Use a cable",
        "known_answer_id": "KB-1"}, minutes=70, actor="agent:lead")  # fmt: skip
    run("Resolve", A, {"resolution": "Workaround"}, minutes=75, actor="agent:lead")
    run("RecordFollowUp", A, {"outcome": "not_resolved", "note": "Drops again"},
        minutes=80, actor="agent:lead")  # fmt: skip
    run("Resolve", A, {"resolution": "Firmware updated"}, minutes=90, actor="agent:lead")
    run("RecordFollowUp", A, {"outcome": "confirmed"}, minutes=100, actor="agent:lead")
    run("Close", A, {}, minutes=110, actor="agent:lead")
    run("RateSatisfaction", A, {"score": 4, "comment": "Took a while"}, minutes=120,
        actor="customer:ann")  # fmt: skip
    run("Reopen", A, {"reason": "Customer called again"}, minutes=130)
    run("Assign", A, {"agent_id": "agent:carol", "reason": "lead is away"}, minutes=140)

    run("PlanPreventiveAction", RC1, {"action_id": "act-1", "kind": "bug_fix",
        "description": "Patch firmware", "owner_id": "agent:dev", "due_at": due(5000)},
        minutes=150, actor="agent:lead")  # fmt: skip
    run("PlanPreventiveAction", RC1, {"action_id": "act-2", "kind": "documentation",
        "description": "Document the workaround", "owner_id": "agent:writer"},
        minutes=155, actor="agent:lead")  # fmt: skip
    run("CompletePreventiveAction", RC1, {"action_id": "act-1",
        "evidence": "Firmware 2.2 shipped"}, minutes=160, actor="agent:dev")  # fmt: skip
    run("CompletePreventiveAction", RC1, {"action_id": "act-2", "evidence": "KB-1 updated"},
        minutes=165, actor="agent:writer")  # fmt: skip
    run("VerifyFix", RC1, {"note": "No drops for a week"}, minutes=170, actor="agent:lead")

    run("OpenCase", B, {"customer_id": "customer:ann", "channel": "phone",
        "subject": "Invoice question", "description": "Charged twice", "category": "billing",
        "product": "router"}, minutes=200, actor="customer:ann")  # fmt: skip
    run("Acknowledge", B, {}, minutes=205, actor="agent:dave")
    run("TakeResponsibility", B, {"note": "I'll handle it"}, minutes=210, actor="agent:dave")
    run("ApplyFix", B, {"kind": "answer", "summary": "Explained the invoice",
        "known_answer_id": "KB-1"}, minutes=220, actor="agent:dave")  # fmt: skip
    run("Resolve", B, {"resolution": "Refunded"}, minutes=230, actor="agent:dave")
    run("WaiveFollowUp", B, {"reason": "Confirmed on the call"}, minutes=240, actor="agent:dave")
    run("RateSatisfaction", B, {"score": 5}, minutes=250, actor="customer:ann")
    run("Close", B, {}, minutes=260, actor="agent:dave")

    run("OpenCase", C, {"customer_id": "customer:bob", "channel": "chat",
        "subject": "App login", "description": "Cannot log in", "priority": "low"},
        minutes=300, actor="customer:bob")  # fmt: skip
    run("Assign", C, {"agent_id": "agent:maria"}, minutes=310)
    run("ScheduleCallback", C, {"due_at": due(1000), "agent_id": "agent:erin"}, minutes=320)
    run("LinkRootCause", C, {"root_cause_id": RC1}, minutes=330)
    run("ApplyFix", C, {"kind": "fix", "summary": "Cleared the cache",
        "known_answer_id": "KB-2"}, minutes=335)  # fmt: skip
    run("PlanPreventiveAction", RC1, {"action_id": "act-3", "kind": "training",
        "description": "Train agents on firmware", "owner_id": "agent:trainer",
        "due_at": due(3000)}, minutes=340, actor="agent:lead")  # fmt: skip
    return h


def extra_cases(h: History) -> History:
    """D: resolved with a scheduled follow-up; E: closed and never rated."""
    run = h.run
    run("OpenCase", D, {"customer_id": "customer:dan", "channel": "web",
        "subject": "Slow site", "description": "Pages take 30 s", "priority": "high"},
        minutes=400, actor="customer:dan")  # fmt: skip
    run("Acknowledge", D, {}, minutes=405)
    run("Assign", D, {"agent_id": "agent:erin"}, minutes=410)
    run("Resolve", D, {"resolution": "CDN fixed"}, minutes=420, actor="agent:erin")
    run("ScheduleFollowUp", D, {"due_at": due(2000)}, minutes=425, actor="agent:erin")
    run("OpenCase", E, {"customer_id": "customer:eve", "channel": "social",
        "subject": "Password", "description": "No reset mail"}, minutes=500,
        actor="customer:eve")  # fmt: skip
    run("Acknowledge", E, {}, minutes=505)
    run("Assign", E, {"agent_id": "agent:frank"}, minutes=510)
    run("Resolve", E, {"resolution": "Answered"}, minutes=520, actor="agent:frank")
    run("RecordFollowUp", E, {"outcome": "no_response"}, minutes=530, actor="agent:frank")
    run("Close", E, {}, minutes=540, actor="agent:frank")
    return h
