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
         "csat_owner_id": "agent:lead", "csat_day": DAY1,
         # KB-1, RC1 linked at 45 before the resolution at 50: fixed twice
         "fix_needs_root_cause": True, "root_cause_linked": True, "root_cause_waived": False,
         "root_cause_needed_at": at(50), "root_cause_needed_day": DAY1,
         "root_cause_needed_owner_id": "agent:lead", "root_cause_settled_at": at(45),
         "fixed_twice": True},
        {"case_id": B, "opened_at": at(200), "acknowledged_at": at(205), "ack_day": DAY1,
         "first_resolved_at": at(230), "first_resolved_day": DAY1, "inbound_contacts": 1,
         "reopen_count": 0, "escalations": 0, "fcr": True, "csat_score": 5,
         "csat_owner_id": "agent:dave", "csat_day": DAY1,
         # KB-1, never linked nor waived
         "fix_needs_root_cause": True, "root_cause_linked": False, "root_cause_waived": False,
         "root_cause_needed_at": at(230), "root_cause_needed_day": DAY1,
         "root_cause_needed_owner_id": "agent:dave", "root_cause_settled_at": None,
         "fixed_twice": False},
        {"case_id": C, "opened_at": at(300), "acknowledged_at": None, "ack_day": None,
         "first_resolved_at": None, "first_resolved_day": None, "inbound_contacts": 1,
         "reopen_count": 0, "escalations": 0, "fcr": False, "csat_score": None,
         "csat_owner_id": None, "csat_day": None,
         # KB-2 given and RC1 linked, but not resolved: needs nothing yet
         "fix_needs_root_cause": True, "root_cause_linked": True, "root_cause_waived": False,
         "root_cause_needed_at": None, "root_cause_needed_day": None,
         "root_cause_needed_owner_id": None, "root_cause_settled_at": at(330),
         "fixed_twice": False},
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
         "closed_at": None, "rated": False,  # rated at 120, but reopened since
         "fix_kind": "workaround", "fix_known_answer_id": "KB-1", "root_cause_id": RC1,
         "root_cause_waived": False},
        {"case_id": B, "reference": case_reference(UUID(B)), "customer_id": "customer:ann",
         "priority": "normal", "status": "closed", "owner_id": "agent:dave",
         "opened_at": at(200), "acknowledged_at": at(205), "update_base_at": at(205), **common,
         "resolved_at": at(230), "follow_up_pending": False, "follow_up_due_at": None,
         "closed_at": at(260), "rated": True, "fix_kind": "answer",
         "fix_known_answer_id": "KB-1", "root_cause_id": None, "root_cause_waived": False},
        {"case_id": C, "reference": case_reference(UUID(C)), "customer_id": "customer:bob",
         "priority": "low", "status": "assigned", "owner_id": "agent:maria",
         "opened_at": at(300), "acknowledged_at": None, "update_base_at": at(300),
         "callback_due_at": at(1000), "callback_agent_id": "agent:erin",
         "callback_since_at": at(320), "resolved_at": None, "follow_up_pending": False,
         "follow_up_due_at": None, "closed_at": None, "rated": False, "fix_kind": "fix",
         "fix_known_answer_id": "KB-2", "root_cause_id": RC1, "root_cause_waived": False},
    ]  # fmt: skip
    assert table("follow_up_known_answers") == [
        {"case_id": A, "version": 6, "known_answer_id": "KB-1", "given_at": at(40)},
        {"case_id": A, "version": 11, "known_answer_id": "KB-1", "given_at": at(70)},
        {"case_id": B, "version": 4, "known_answer_id": "KB-1", "given_at": at(220)},
        {"case_id": C, "version": 5, "known_answer_id": "KB-2", "given_at": at(335)},
    ]  # fmt: skip
