"""responsibility: intervals per case, agent and role; who was responsible at T."""

from __future__ import annotations

import pytest

from supportes.db.connect import connect
from supportes.projections.responsibility import responsible_at
from tests.conftest import Isolated
from tests.integration.projections.stories import A, B, C, story
from tests.support.history import apply_all, at, rows

QUERY = "SELECT * FROM proj.responsibility ORDER BY case_id, role, from_version"
ESCALATION_NOTE = "needs refund authority; authority: refunds"


def _interval(
    case: str, role: str, agent: str, start: tuple[float, int], opened: tuple[str, str], *,
    end: tuple[float, int] | None = None, closed: tuple[str, str] | None = None,
    note: str | None = None,
) -> dict[str, object]:  # fmt: skip
    return {
        "case_id": case, "role": role, "agent_id": agent, "from_at": at(start[0]),
        "from_version": start[1], "to_at": at(end[0]) if end else None,
        "to_version": end[1] if end else None, "opened_by": opened[0],
        "opened_by_event": opened[1], "closed_by": closed[0] if closed else None,
        "closed_by_event": closed[1] if closed else None, "note": note, "opened_via_id": None,
        "opened_via_kind": None, "closed_via_id": None, "closed_via_kind": None,
    }  # fmt: skip


EXPECTED = [
    _interval(A, "assignee", "agent:bob", (10, 3), ("agent:maria", "CaseAssigned"),
              end=(30, 5), closed=("agent:bob", "CaseEscalated"), note="queue"),
    # the escalation passes ownership and responsibility to agent:lead ...
    _interval(A, "assignee", "agent:lead", (30, 5), ("agent:bob", "CaseEscalated"),
              end=(110, 17), closed=("agent:lead", "CaseClosed"), note=ESCALATION_NOTE),
    # ... reopened from closed: the same holders again, until carol is assigned
    _interval(A, "assignee", "agent:lead", (130, 19), ("agent:maria", "CaseReopened"),
              end=(140, 20), closed=("agent:maria", "CaseAssigned"),
              note="Customer called again"),
    _interval(A, "assignee", "agent:carol", (140, 20), ("agent:maria", "CaseAssigned"),
              note="lead is away"),
    _interval(A, "escalation", "agent:lead", (30, 5), ("agent:bob", "CaseEscalated"),
              end=(110, 17), closed=("agent:lead", "CaseClosed"), note=ESCALATION_NOTE),
    _interval(A, "escalation", "agent:lead", (130, 19), ("agent:maria", "CaseReopened"),
              note="Customer called again"),
    _interval(B, "assignee", "agent:dave", (210, 3), ("agent:dave", "ResponsibilityTaken"),
              end=(260, 8), closed=("agent:dave", "CaseClosed"), note="I'll handle it"),
    _interval(B, "responsible", "agent:dave", (210, 3), ("agent:dave", "ResponsibilityTaken"),
              end=(260, 8), closed=("agent:dave", "CaseClosed"), note="I'll handle it"),
    _interval(C, "assignee", "agent:maria", (310, 2), ("agent:maria", "CaseAssigned")),
]  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_intervals(isolated: Isolated, batch_size: int) -> None:
    apply_all(isolated.dsn, story().events, batch_size=batch_size)
    assert rows(isolated.dsn, QUERY) == EXPECTED


def test_who_was_responsible_at(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=7)
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            answers = {
                m: responsible_at(cur, A, at(m)) for m in (5, 10, 29, 30, 100, 115, 135, 145)
            }
            closed_b = responsible_at(cur, B, at(300))
            assignee_c = responsible_at(cur, C, at(320))
    finally:
        conn.close()
    assert answers == {
        5: None,  # not yet assigned
        10: ("agent:bob", "assignee"),
        29: ("agent:bob", "assignee"),
        30: ("agent:lead", "escalation"),  # escalated at minute 30 (half-open intervals)
        100: ("agent:lead", "escalation"),
        115: None,  # closed at minute 110
        135: ("agent:lead", "escalation"),  # reopened at minute 130
        145: ("agent:lead", "escalation"),  # carol owns it, lead is still responsible
    }
    assert closed_b is None
    assert assignee_c == ("agent:maria", "assignee")
