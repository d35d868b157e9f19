"""A case's whole story with a distinctive string in every personal field, for the erasure tests.

Each string is ``<marker>-<field>-<n>`` with a marker unique to the customer, so a scan for the
marker finds every field, in any encoding supportes writes.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from tests.support.commands import command

STORY_FIELDS = (
    "subject", "description", "contact", "acknowledge", "assign", "responsibility",
    "escalate", "authority", "update", "callback", "fix", "resolution", "follow-up", "rating",
    "reopen", "waiver", "suggestion", "again",
)  # fmt: skip


def marker_for(customer: str) -> str:
    """A string found nowhere else: the customer's distinctive prefix."""
    return f"Zq{uuid.uuid5(uuid.NAMESPACE_URL, customer).hex[:12]}"


def story(case_id: str, customer: str, n: int = 0) -> list[dict[str, Any]]:
    """Commands of one case of ``customer`` using every personal field, in an order the domain
    accepts; agent ``agent:maria`` owns it."""
    mark = marker_for(customer)

    def text(field: str) -> str:
        return f'{mark}-{field}-{n} ünïcode "quoted"'

    steps: list[tuple[str, dict[str, Any], str]] = [
        ("OpenCase", {"customer_id": customer, "channel": "email", "subject": text("subject"),
                      "description": text("description")}, customer),
        ("RecordContact", {"direction": "inbound", "channel": "chat",
                           "summary": text("contact")}, "agent:maria"),
        ("Acknowledge", {"channel": "email", "message": text("acknowledge")}, "agent:maria"),
        ("Assign", {"agent_id": "agent:maria", "reason": text("assign")}, "agent:maria"),
        ("TakeResponsibility", {"note": text("responsibility")}, "agent:maria"),
        ("Escalate", {"to_agent_id": "agent:lead", "reason": text("escalate"),
                      "authority": text("authority")}, "agent:maria"),
        ("UpdateCustomer", {"channel": "email", "message": text("update")}, "agent:maria"),
        ("ScheduleCallback", {"due_at": "2031-01-01T00:00:00Z"}, "agent:maria"),
        ("CompleteCallback", {"outcome": text("callback")}, "agent:maria"),
        ("ApplyFix", {"kind": "workaround", "summary": text("fix")}, "agent:maria"),
        ("Resolve", {"resolution": text("resolution")}, "agent:maria"),
        ("ScheduleFollowUp", {"due_at": "2031-01-02T00:00:00Z"}, "agent:maria"),
        ("RecordFollowUp", {"outcome": "confirmed", "note": text("follow-up")}, "agent:maria"),
        ("RateSatisfaction", {"score": 4, "comment": text("rating")}, customer),
        ("Reopen", {"reason": text("reopen")}, "agent:maria"),
        ("Resolve", {"resolution": text("resolution")}, "agent:maria"),
        ("WaiveFollowUp", {"reason": text("waiver")}, "agent:maria"),
        ("NoteSuggestion", {"suggestion": text("suggestion")}, "agent:maria"),
        # the customer writes again: the domain reopens the case with a reason of its own
        ("RecordContact", {"direction": "inbound", "channel": "email",
                           "summary": text("again")}, customer),
    ]  # fmt: skip
    return [
        command(kind, case_id, payload, minutes=n * 100 + step, actor=actor)
        for step, (kind, payload, actor) in enumerate(steps)
    ]


def encodings(text: str) -> list[bytes]:
    """``text`` as supportes could write it: UTF-8, JSON-escaped (ASCII or not), base64 (at each
    of the three alignments, edge characters cut)."""
    found = {
        text.encode(),
        json.dumps(text)[1:-1].encode(),
        json.dumps(text, ensure_ascii=False)[1:-1].encode(),
    }
    for pad in range(3):
        coded = base64.b64encode(b"\0" * pad + text.encode())
        found.add(coded[4 if pad else 0 : -4])
        found.add(base64.urlsafe_b64encode(b"\0" * pad + text.encode())[4 if pad else 0 : -4])
    return sorted(found)
