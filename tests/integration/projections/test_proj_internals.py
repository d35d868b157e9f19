"""The projections' internal state tables after the story, every column checked."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from supportes.aggregates import case_reference
from tests.conftest import Isolated
from tests.integration.projections.stories import RC1, A, B, C, story
from tests.support.history import apply_all, at, rows

DAY1 = date(2026, 11, 22)


def test_internal_tables(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=8)

    def table(name: str) -> list[dict[str, object]]:
        return rows(isolated.dsn, f"SELECT * FROM proj.{name} ORDER BY 1, 2")

    assert table("repeat_issues_cases") == [
        {"case_id": A, "customer_id": "customer:ann", "category": "billing",
         "product": "router", "status": "open", "root_cause_id": RC1, "known_answers": ["KB-1"]},
        {"case_id": B, "customer_id": "customer:ann", "category": "billing",
         "product": "router", "status": "closed", "root_cause_id": None,
         "known_answers": ["KB-1"]},
        {"case_id": C, "customer_id": "customer:bob", "category": None, "product": None,
         "status": "open", "root_cause_id": RC1, "known_answers": ["KB-2"]},
    ]  # fmt: skip
    assert table("repeat_rc_links") == [
        {"root_cause_id": RC1, "case_id": A, "first_attached_at": at(45),
         "last_attached_at": at(45), "attachments": 1, "recurrence": False},
        {"root_cause_id": RC1, "case_id": C, "first_attached_at": at(330),
         "last_attached_at": at(330), "attachments": 1, "recurrence": True},
    ]  # fmt: skip
    assert table("metrics_cases") == [
        {"case_id": A, "opened_at": at(0), "acknowledged_at": at(5), "ack_day": DAY1,
         "first_resolved_at": at(50), "first_resolved_day": DAY1, "inbound_contacts": 3,
         "reopen_count": 3, "escalations": 1, "fcr": False, "csat_score": 4,
         "csat_owner_id": "agent:lead", "csat_day": DAY1},
        {"case_id": B, "opened_at": at(200), "acknowledged_at": at(205), "ack_day": DAY1,
         "first_resolved_at": at(230), "first_resolved_day": DAY1, "inbound_contacts": 1,
         "reopen_count": 0, "escalations": 0, "fcr": True, "csat_score": 5,
         "csat_owner_id": "agent:dave", "csat_day": DAY1},
        {"case_id": C, "opened_at": at(300), "acknowledged_at": None, "ack_day": None,
         "first_resolved_at": None, "first_resolved_day": None, "inbound_contacts": 1,
         "reopen_count": 0, "escalations": 0, "fcr": False, "csat_score": None,
         "csat_owner_id": None, "csat_day": None},
    ]  # fmt: skip
    assert table("responsibility_cases") == [
        # the from_version of the open intervals: carol's assignment (20), lead's escalation
        # interval reopened with the case (19); B's intervals were ended by its closing; the
        # customer (from CaseOpened) is whose erasure masks the notes
        {"case_id": A, "owner_id": "agent:carol", "owner_since": 20,
         "responsible_id": "agent:lead", "responsible_role": "escalation",
         "responsible_since": 19, "closed": False, "version": 20,
         "customer_id": "customer:ann"},
        {"case_id": B, "owner_id": "agent:dave", "owner_since": None,
         "responsible_id": "agent:dave", "responsible_role": "responsible",
         "responsible_since": None, "closed": True, "version": 8,
         "customer_id": "customer:ann"},
        {"case_id": C, "owner_id": "agent:maria", "owner_since": 2, "responsible_id": None,
         "responsible_role": None, "responsible_since": None, "closed": False, "version": 2,
         "customer_id": "customer:bob"},
    ]  # fmt: skip
    common = {"callback_due_at": None, "callback_agent_id": None, "callback_since_at": None}
    assert table("follow_up_cases") == [
        {"case_id": A, "reference": case_reference(UUID(A)), "customer_id": "customer:ann",
         "priority": "urgent", "status": "assigned", "owner_id": "agent:carol",
         "opened_at": at(0), "acknowledged_at": at(5), "update_base_at": at(130), **common,
         "resolved_at": None, "follow_up_pending": False, "follow_up_due_at": None,
         "closed_at": None, "rated": False},  # rated at 120, but reopened since
        {"case_id": B, "reference": case_reference(UUID(B)), "customer_id": "customer:ann",
         "priority": "normal", "status": "closed", "owner_id": "agent:dave",
         "opened_at": at(200), "acknowledged_at": at(205), "update_base_at": at(205), **common,
         "resolved_at": at(230), "follow_up_pending": False, "follow_up_due_at": None,
         "closed_at": at(260), "rated": True},
        {"case_id": C, "reference": case_reference(UUID(C)), "customer_id": "customer:bob",
         "priority": "low", "status": "assigned", "owner_id": "agent:maria",
         "opened_at": at(300), "acknowledged_at": None, "update_base_at": at(300),
         "callback_due_at": at(1000), "callback_agent_id": "agent:erin",
         "callback_since_at": at(320), "resolved_at": None, "follow_up_pending": False,
         "follow_up_due_at": None, "closed_at": None, "rated": False},
    ]  # fmt: skip
