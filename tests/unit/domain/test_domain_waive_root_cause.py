"""``WaiveRootCause`` (issue 21): a lead rules out a root cause for a resolved or closed case.

Rules: only on a resolved or closed case (``not_resolved``), not twice (``already_waived``),
``reason`` non-empty (``invalid``); a closed case accepts it (and ``LinkRootCause``): the second
fix is often found, or ruled out, after the first one closed the case.
"""

from __future__ import annotations

import pytest
from domain_gwt import CLOSED, RESOLVED, ROOT_CAUSE_ID, case

LEAD = {"id": "agent:lea", "kind": "agent"}
WAIVE = {"reason": "one-off: customer error"}


@pytest.mark.parametrize("steps", [RESOLVED, CLOSED], ids=["resolved", "closed"])
def test_waive_root_cause_on_a_resolved_or_closed_case(steps: tuple[str, ...]) -> None:
    s = case(*steps)
    status = s.state["status"]
    (p,) = s.when("WaiveRootCause", WAIVE, actor=LEAD).then("RootCauseWaived")
    assert p == {"reason": "one-off: customer error"}
    assert s.state["root_cause_waived"] is True
    assert s.state["status"] == status  # the waiver changes nothing else
    assert s.events[-1]["actor"] == LEAD


@pytest.mark.parametrize("steps", [(), ("Acknowledge",), ("Acknowledge", "Assign")])
def test_waive_root_cause_needs_a_resolved_or_closed_case(steps: tuple[str, ...]) -> None:
    case(*steps).when("WaiveRootCause", WAIVE).rejected("not_resolved")


def test_waive_root_cause_after_a_reopening_is_not_resolved() -> None:
    case(*RESOLVED, "Reopen").when("WaiveRootCause", WAIVE).rejected("not_resolved")


def test_waive_root_cause_twice_is_already_waived() -> None:
    s = case(*RESOLVED, ("WaiveRootCause", WAIVE))
    s.when("WaiveRootCause", {"reason": "again"}).rejected("already_waived")


def test_the_waiver_stands_across_a_reopening_and_after_closing() -> None:
    s = case(*RESOLVED, ("WaiveRootCause", WAIVE), "Reopen", "Resolve", "RecordFollowUp", "Close")
    assert s.state["root_cause_waived"] is True
    s.when("WaiveRootCause", WAIVE).rejected("already_waived")


@pytest.mark.parametrize("reason", ["", " ", "\t\n"])
def test_waive_root_cause_needs_a_reason(reason: str) -> None:
    case(*RESOLVED).when("WaiveRootCause", {"reason": reason}).rejected("invalid", "payload.reason")


def test_waive_root_cause_without_a_reason_is_invalid() -> None:
    case(*RESOLVED).when("WaiveRootCause", {}).rejected("invalid", "payload.reason")


def test_a_closed_case_accepts_link_root_cause() -> None:
    s = case(*CLOSED)
    (p,) = s.when("LinkRootCause").then("RootCauseLinked")
    assert p == {"root_cause_id": str(ROOT_CAUSE_ID), "previous_root_cause_id": None}
    assert s.state["root_cause_id"] == str(ROOT_CAUSE_ID)
    assert s.state["status"] == "closed"


def test_a_linked_case_may_still_be_waived_and_a_waived_one_linked() -> None:
    """Linking and waiving are independent facts (either settles the root cause)."""
    s = case(*RESOLVED, "LinkRootCause")
    s.when("WaiveRootCause", WAIVE).then("RootCauseWaived")
    t = case(*RESOLVED, ("WaiveRootCause", WAIVE))
    t.when("LinkRootCause").then("RootCauseLinked")
