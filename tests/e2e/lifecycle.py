"""A scripted case lifecycle as command envelopes (JSON lines for ``supportes submit``).

Case A (customer:ann, urgent, billing/router): opened, acknowledged by maria, assigned to bob,
the customer calls, bob escalates to lead (refund authority), lead gives known answer KB-1 and
links root cause RC1, resolves; the follow-up finds it not resolved (reopens), lead resolves again,
the follow-up confirms, lead closes, ann rates 4. RC1 gets a preventive action for dev.
Case B (customer:ann again): opened and assigned to carol, still open (due items in the queue).
Times are minutes after T0 (2026-11-22T10:00Z).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.commands import T0, command

CASE_A = "00000000-0000-4000-8000-0000000000a1"
CASE_B = "00000000-0000-4000-8000-0000000000b1"
ROOT_CAUSE = "00000000-0000-4000-8000-0000000000c1"
NOT_A_CASE = "00000000-0000-4000-8000-0000000000ff"


def lifecycle() -> list[dict[str, Any]]:
    """The commands of cases A and B and root cause RC1, in the order they are submitted."""
    return [
        command("OpenCase", CASE_A, {"customer_id": "customer:ann", "channel": "email",
                "subject": "Router drops", "description": "It drops every hour",
                "priority": "urgent", "category": "billing", "product": "router"},
                minutes=0, actor="customer:ann"),
        command("IdentifyRootCause", ROOT_CAUSE, {"title": "Router firmware bug",
                "description": "Firmware 2.1 drops the line", "category": "billing",
                "product": "router"}, minutes=1, actor="agent:lead"),
        command("Acknowledge", CASE_A, {"channel": "email", "message": "We are on it"},
                minutes=5, actor="agent:maria"),
        command("Assign", CASE_A, {"agent_id": "agent:bob", "reason": "router queue"},
                minutes=10, actor="agent:maria"),
        command("RecordContact", CASE_A, {"direction": "inbound", "channel": "phone",
                "summary": "More details"}, minutes=20, actor="customer:ann"),
        command("Escalate", CASE_A, {"to_agent_id": "agent:lead",
                "reason": "needs refund authority", "authority": "refunds"},
                minutes=30, actor="agent:bob"),
        command("ApplyFix", CASE_A, {"kind": "answer", "summary": "Reset the router",
                "known_answer_id": "KB-1"}, minutes=40, actor="agent:lead"),
        command("LinkRootCause", CASE_A, {"root_cause_id": ROOT_CAUSE}, minutes=45,
                actor="agent:lead"),
        command("Resolve", CASE_A, {"resolution": "Reset fixed it"}, minutes=50,
                actor="agent:lead"),
        command("RecordFollowUp", CASE_A, {"outcome": "not_resolved", "note": "Drops again"},
                minutes=80, actor="agent:lead"),
        command("Resolve", CASE_A, {"resolution": "Firmware updated"}, minutes=90,
                actor="agent:lead"),
        command("RecordFollowUp", CASE_A, {"outcome": "confirmed"}, minutes=100,
                actor="agent:lead"),
        command("Close", CASE_A, {}, minutes=110, actor="agent:lead"),
        command("RateSatisfaction", CASE_A, {"score": 4, "comment": "Took a while"},
                minutes=120, actor="customer:ann"),
        command("PlanPreventiveAction", ROOT_CAUSE, {"action_id": "act-1", "kind": "bug_fix",
                "description": "Patch firmware", "owner_id": "agent:dev"},
                minutes=150, actor="agent:lead"),
        command("OpenCase", CASE_B, {"customer_id": "customer:ann", "channel": "phone",
                "subject": "Invoice question", "description": "Charged twice",
                "category": "billing", "product": "router"}, minutes=200,
                actor="customer:ann"),
        command("Assign", CASE_B, {"agent_id": "agent:carol"}, minutes=210,
                actor="agent:maria"),
    ]  # fmt: skip


def minutes_after_t0(minutes: float) -> str:
    """An ISO 8601 UTC time ``minutes`` after T0 (for ``--at``, ``--as-of``, ``--now``)."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
