"""case_view: one row per case, every column checked."""

from __future__ import annotations

from uuid import UUID

from supportes.aggregates import case_reference
from tests.conftest import Isolated
from tests.integration.projections.stories import RC1, A, B, C, story
from tests.support.history import History, apply_all, at, rows

QUERY = "SELECT * FROM proj.case_view ORDER BY case_id"


def expected() -> list[dict[str, object]]:
    """The story's cases as case_view rows."""
    return [
        {
            "case_id": A, "reference": case_reference(UUID(A)), "customer_id": "customer:ann",
            "channel": "email", "subject": "Router drops", "description": "It drops every hour",
            "category": "billing", "product": "router", "tags": ["vip"], "priority": "urgent",
            "status": "assigned", "owner_id": "agent:carol", "responsible_id": "agent:lead",
            "suggested_owner_id": "agent:lead",  # owner when it was reopened
            "previous_case_id": None,
            "owners": ["agent:bob", "agent:lead", "agent:carol"], "distinct_owners": 3,
            "escalations": 1, "escalated": True, "opened_at": at(0), "acknowledged_at": at(5),
            "first_resolved_at": at(50), "resolved_at": None, "closed_at": None,
            "last_reopened_at": at(130), "reopen_count": 3, "inbound_contacts": 3,
            "outbound_contacts": 0, "resolution": "Firmware updated",
            "resolved_by_id": "agent:lead", "follow_up_status": "not_due",
            "follow_up_due_at": None, "callback_due_at": None, "callback_agent_id": None,
            "fixes_applied": 2, "known_answers_given": 2, "root_cause_id": RC1,
            "csat_score": 4, "csat_owner_id": "agent:lead", "rated_at": at(120),
            "suggestions": 0, "first_contact_resolution": False,
            "last_customer_update_at": at(5), "updated_at": at(140), "version": 20,
            "follow_up_of": None, "opening_suggested_owner_id": None,
        },
        {
            "case_id": B, "reference": case_reference(UUID(B)), "customer_id": "customer:ann",
            "channel": "phone", "subject": "Invoice question", "description": "Charged twice",
            "category": "billing", "product": "router", "tags": [], "priority": "normal",
            "status": "closed", "owner_id": "agent:dave", "responsible_id": "agent:dave",
            "suggested_owner_id": "agent:carol",  # current owner of ann's previous case, A
            "previous_case_id": A, "owners": ["agent:dave"], "distinct_owners": 1,
            "escalations": 0, "escalated": False, "opened_at": at(200),
            "acknowledged_at": at(205), "first_resolved_at": at(230), "resolved_at": at(230),
            "closed_at": at(260), "last_reopened_at": None, "reopen_count": 0,
            "inbound_contacts": 1, "outbound_contacts": 0, "resolution": "Refunded",
            "resolved_by_id": "agent:dave", "follow_up_status": "waived",
            "follow_up_due_at": None, "callback_due_at": None, "callback_agent_id": None,
            "fixes_applied": 1, "known_answers_given": 1, "root_cause_id": None,
            "csat_score": 5, "csat_owner_id": "agent:dave", "rated_at": at(250),
            "suggestions": 0, "first_contact_resolution": True,
            "last_customer_update_at": at(205), "updated_at": at(260), "version": 8,
            "follow_up_of": None, "opening_suggested_owner_id": None,
        },
        {
            "case_id": C, "reference": case_reference(UUID(C)), "customer_id": "customer:bob",
            "channel": "chat", "subject": "App login", "description": "Cannot log in",
            "category": None, "product": None, "tags": [], "priority": "low",
            "status": "assigned", "owner_id": "agent:maria", "responsible_id": None,
            "suggested_owner_id": None, "previous_case_id": None, "owners": ["agent:maria"],
            "distinct_owners": 1, "escalations": 0, "escalated": False, "opened_at": at(300),
            "acknowledged_at": None, "first_resolved_at": None, "resolved_at": None,
            "closed_at": None, "last_reopened_at": None, "reopen_count": 0,
            "inbound_contacts": 1, "outbound_contacts": 0, "resolution": None,
            "resolved_by_id": None, "follow_up_status": "not_due", "follow_up_due_at": None,
            "callback_due_at": at(1000), "callback_agent_id": "agent:erin",
            "fixes_applied": 1, "known_answers_given": 1, "root_cause_id": RC1,
            "csat_score": None, "csat_owner_id": None, "rated_at": None, "suggestions": 0,
            "first_contact_resolution": False, "last_customer_update_at": None,
            "updated_at": at(335), "version": 5, "follow_up_of": None,
            "opening_suggested_owner_id": None,
        },
    ]  # fmt: skip


def test_case_view_rows(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=5)
    assert rows(isolated.dsn, QUERY) == expected()


def test_case_view_in_one_batch_and_with_cases_in_reverse_order(isolated: Isolated) -> None:
    events = story().events
    later_cases_first = sorted(events, key=lambda e: str(e.aggregate_id), reverse=True)
    apply_all(isolated.dsn, later_cases_first, batch_size=len(events))
    assert rows(isolated.dsn, QUERY) == expected()


def test_outbound_contact_suggestion_and_status_progression(isolated: Isolated) -> None:
    h = History()
    case = "00000000-0000-4000-8000-0000000000f1"
    h.run("OpenCase", case, {"customer_id": "customer:zoe", "channel": "web", "subject": "S",
          "description": "D"}, minutes=0, actor="customer:zoe")  # fmt: skip
    apply_all(isolated.dsn, h.events)
    first = rows(isolated.dsn, "SELECT status, owner_id, version FROM proj.case_view")
    assert first == [{"status": "new", "owner_id": None, "version": 1}]
    more = [
        *h.run(
            "RecordContact",
            case,
            {"direction": "outbound", "channel": "phone", "summary": "Called"},
            minutes=3,
        ),
        *h.run("TakeResponsibility", case, {}, minutes=4, actor="agent:kim"),
        *h.run("NoteSuggestion", case, {"suggestion": "Better docs"}, minutes=5),
        *h.run("Acknowledge", case, {}, minutes=6),
    ]
    apply_all(isolated.dsn, more)
    assert rows(
        isolated.dsn,
        "SELECT status, owner_id, responsible_id, outbound_contacts, suggestions,"
        " last_customer_update_at, acknowledged_at, version FROM proj.case_view",
    ) == [{
        "status": "assigned", "owner_id": "agent:kim", "responsible_id": "agent:kim",
        "outbound_contacts": 1, "suggestions": 1, "last_customer_update_at": at(6),
        "acknowledged_at": at(6), "version": 5,
    }]  # fmt: skip


def test_texts_survive_copy_escaping(isolated: Isolated) -> None:
    nasty = (
        'tab\there, new\nline, cr\r, back\\slash \\N, "quotes", {braces}, comma, NULL, \u00e9\u2603'
    )
    tags = ['a"b', "c,d", "{e}", "f\\g", "NULL", "h i"]
    h = History()
    case = "00000000-0000-4000-8000-0000000000f2"
    h.run("OpenCase", case, {"customer_id": nasty, "channel": "web", "subject": nasty,
          "description": nasty, "category": nasty, "tags": tags}, minutes=0,
          actor="customer:x")  # fmt: skip
    h.run("Assign", case, {"agent_id": nasty}, minutes=1)
    apply_all(isolated.dsn, h.events)
    (row,) = rows(
        isolated.dsn,
        "SELECT customer_id, subject, description, category, tags, owners FROM proj.case_view",
    )
    assert row == {
        "customer_id": nasty, "subject": nasty, "description": nasty, "category": nasty,
        "tags": tags, "owners": [nasty],
    }  # fmt: skip
    (timeline,) = rows(isolated.dsn, "SELECT payload FROM proj.case_timeline WHERE version = 1")
    assert timeline["payload"]["description"] == nasty
    assert timeline["payload"]["tags"] == tags
