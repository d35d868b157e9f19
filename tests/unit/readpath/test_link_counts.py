"""How a batch moves the link counts of repeat_issues_by_root_cause (kept incrementally)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from supportes.projections.repeat_issues import link_count_deltas

T1 = datetime(2026, 5, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 5, 2, 9, tzinfo=UTC)


def _link(rc: str, case: str, first: datetime, last: datetime, recurrence: bool) -> list[Any]:
    return [rc, case, first, last, 1, recurrence]


def _by_rc(rows: list[list[Any]]) -> dict[str, list[Any]]:
    return {row[0]: row[1:] for row in rows}


def test_a_new_link_counts_the_case_once_and_as_open_only_if_it_is_open_now() -> None:
    links = {
        ("rc1", "a"): _link("rc1", "a", T1, T1, False),
        ("rc1", "b"): _link("rc1", "b", T2, T2, True),
        ("rc2", "c"): _link("rc2", "c", T1, T2, False),
    }
    deltas = link_count_deltas(links, {}, {}, {"a": True, "b": False})
    assert _by_rc(deltas) == {
        "rc1": [2, 1, 1, T1, T2],  # c, not projected yet, is not open
        "rc2": [1, 0, 0, T1, T2],
    }


def test_attaching_a_linked_case_again_counts_it_once_and_a_new_recurrence_once() -> None:
    links = {("rc1", "a"): _link("rc1", "a", T2, T2, True)}
    deltas = link_count_deltas(links, {}, {("rc1", "a"): False}, {"a": True})
    assert _by_rc(deltas) == {"rc1": [0, 0, 1, T2, T2]}
    again = link_count_deltas(links, {}, {("rc1", "a"): True}, {"a": True})
    assert _by_rc(again) == {"rc1": [0, 0, 0, T2, T2]}


def test_a_linked_case_opening_or_closing_moves_every_root_cause_it_was_linked_to() -> None:
    old = {("rc1", "a"): False, ("rc2", "a"): True, ("rc1", "b"): False}
    deltas = link_count_deltas({}, {"a": -1, "b": 1}, old, {})
    assert _by_rc(deltas) == {"rc2": [0, -1, 0, None, None]}  # rc1: -1 for a, +1 for b


def test_a_case_opened_and_attached_in_one_batch_counts_as_open_once() -> None:
    links = {("rc1", "a"): _link("rc1", "a", T1, T1, False)}
    deltas = link_count_deltas(links, {"a": 1}, {}, {"a": True})
    assert _by_rc(deltas) == {"rc1": [1, 1, 0, T1, T1]}


def test_nothing_attached_and_no_status_change_moves_nothing() -> None:
    assert link_count_deltas({}, {}, {("rc1", "a"): False}, {}) == []
