"""Repeat issues by root cause, topic and customer, and known answers given again."""

from __future__ import annotations

from datetime import date

from tests.conftest import Isolated
from tests.integration.projections.stories import DAY, RC1, A, C, story
from tests.support.history import History, apply_all, at, rows


def _root_cause_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "root_cause_id": RC1, "title": "Router firmware bug",
        "description": "Firmware 2.1 drops the line", "category": "billing",
        "product": "router", "status": "reopened", "identified_at": at(1),
        "verified_at": at(170), "reopen_count": 1,
        "cases_total": 2, "cases_open": 2,  # A was reopened, C never resolved
        "cases_after_verification": 1,  # C, attached after the fix was verified
        "first_seen_at": at(45), "last_seen_at": at(330), "preventive_actions": 3,
        "open_preventive_actions": 1, "open_action_ids": ["act-3"], "updated_at": at(340),
        "version": 10,
    }  # fmt: skip
    row.update(changes)
    return row


def test_by_root_cause(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=4)
    assert rows(isolated.dsn, "SELECT * FROM proj.repeat_issues_by_root_cause") == [
        _root_cause_row()
    ]


def test_cases_open_follows_cases_projected_before_or_after_their_attachment(
    isolated: Isolated,
) -> None:
    h = story()
    root_first = [e for e in h.events if str(e.aggregate_id) == RC1]
    cases_later = [e for e in h.events if str(e.aggregate_id) != RC1]
    apply_all(isolated.dsn, root_first, batch_size=3)
    # attached, but their own events not projected yet: not counted as open
    assert rows(isolated.dsn, "SELECT * FROM proj.repeat_issues_by_root_cause") == [
        _root_cause_row(cases_open=0)
    ]
    a_events = [e for e in cases_later if str(e.aggregate_id) == A]
    apply_all(isolated.dsn, a_events[:8], batch_size=3)  # A opened ... resolved at 50
    assert rows(isolated.dsn, "SELECT cases_open FROM proj.repeat_issues_by_root_cause") == [
        {"cases_open": 0}
    ]
    apply_all(isolated.dsn, a_events[8:10], batch_size=3)  # the customer replied: reopened
    assert rows(isolated.dsn, "SELECT cases_open FROM proj.repeat_issues_by_root_cause") == [
        {"cases_open": 1}
    ]
    apply_all(isolated.dsn, [e for e in cases_later if e not in a_events[:10]], batch_size=5)
    assert rows(isolated.dsn, "SELECT * FROM proj.repeat_issues_by_root_cause") == [
        _root_cause_row()
    ]


def test_by_topic_with_a_thirty_day_window(isolated: Isolated) -> None:
    h = History()
    old = "00000000-0000-4000-8000-0000000000d0"
    h.run("OpenCase", old, {"customer_id": "customer:ann", "channel": "email", "subject": "S",
          "description": "D", "category": "billing", "product": "router"},
          minutes=-40 * DAY, actor="customer:ann")  # fmt: skip
    story(h)
    apply_all(isolated.dsn, h.events, batch_size=9)
    assert rows(isolated.dsn, "SELECT * FROM proj.repeat_issues_by_topic ORDER BY topic_key") == [
        {
            "topic_key": '["billing","router"]', "category": "billing", "product": "router",
            "cases_total": 3, "cases_last_30_days": 2,  # the old case is 40 days older
            "window_end_day": date(2026, 11, 22),
            "known_answers_given": 3,  # KB-1 twice on A, once on B
            "cases_without_root_cause": 2,  # B and the old case
            "reopenings": 3, "first_opened_at": at(-40 * DAY), "last_opened_at": at(200),
        },
        {
            "topic_key": "[null,null]", "category": None, "product": None, "cases_total": 1,
            "cases_last_30_days": 1, "window_end_day": date(2026, 11, 22),
            "known_answers_given": 1, "cases_without_root_cause": 0, "reopenings": 0,
            "first_opened_at": at(300), "last_opened_at": at(300),
        },
    ]  # fmt: skip
    assert rows(
        isolated.dsn, "SELECT * FROM proj.repeat_issues_topic_daily ORDER BY topic_key, day"
    ) == [
        {"topic_key": '["billing","router"]', "category": "billing", "product": "router",
         "day": date(2026, 10, 13), "cases": 1},
        {"topic_key": '["billing","router"]', "category": "billing", "product": "router",
         "day": date(2026, 11, 22), "cases": 2},
        {"topic_key": "[null,null]", "category": None, "product": None,
         "day": date(2026, 11, 22), "cases": 1},
    ]  # fmt: skip


def test_window_moves_with_the_log_not_the_clock(isolated: Isolated) -> None:
    h = History()
    first, later = "00000000-0000-4000-8000-0000000000d1", "00000000-0000-4000-8000-0000000000d2"
    h.run("OpenCase", first, {"customer_id": "c:1", "channel": "web", "subject": "S",
          "description": "D", "category": "x"}, minutes=0, actor="customer:1")  # fmt: skip
    apply_all(isolated.dsn, h.events)
    h.run("OpenCase", later, {"customer_id": "c:1", "channel": "web", "subject": "S",
          "description": "D", "category": "y"}, minutes=31 * DAY, actor="customer:1")  # fmt: skip
    apply_all(isolated.dsn, h.events[1:])
    assert rows(
        isolated.dsn,
        "SELECT category, cases_total, cases_last_30_days, window_end_day"
        " FROM proj.repeat_issues_by_topic ORDER BY category",
    ) == [
        {"category": "x", "cases_total": 1, "cases_last_30_days": 0,
         "window_end_day": date(2026, 12, 23)},
        {"category": "y", "cases_total": 1, "cases_last_30_days": 1,
         "window_end_day": date(2026, 12, 23)},
    ]  # fmt: skip


def test_by_customer(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=2)
    assert rows(
        isolated.dsn, "SELECT * FROM proj.repeat_contacts_by_customer ORDER BY customer_id"
    ) == [
        {"customer_id": "customer:ann", "cases": 2,
         "reopenings": 3,  # A: customer replied, follow-up not resolved, reopened after closing
         "inbound_contacts": 4,  # A: opening + 2 contacts; B: opening
         "first_contact_at": at(0), "last_contact_at": at(200)},
        {"customer_id": "customer:bob", "cases": 1, "reopenings": 0, "inbound_contacts": 1,
         "first_contact_at": at(300), "last_contact_at": at(300)},
    ]  # fmt: skip


def test_known_answers(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=1000)
    assert rows(isolated.dsn, "SELECT * FROM proj.known_answers ORDER BY known_answer_id") == [
        {"known_answer_id": "KB-1", "times_given": 3, "cases": 2, "first_given_at": at(40),
         "last_given_at": at(220)},
        {"known_answer_id": "KB-2", "times_given": 1, "cases": 1, "first_given_at": at(335),
         "last_given_at": at(335)},
    ]  # fmt: skip
    query = "SELECT case_id, known_answers FROM proj.repeat_issues_cases WHERE case_id = %s"
    assert rows(isolated.dsn, query, (C,)) == [{"case_id": C, "known_answers": ["KB-2"]}]
