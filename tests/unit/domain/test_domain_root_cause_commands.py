"""Given/when/then tests for every RootCause command: accepted paths and each rejection."""

from __future__ import annotations

import pytest
from domain_gwt import (
    CASE_ID,
    FAR_FUTURE,
    ROOT_CAUSE_COMMANDS,
    ROOT_CAUSE_ID,
    VALID_PAYLOADS,
    Scenario,
    case,
    root_cause,
)

PLAN_A1 = ("PlanPreventiveAction", VALID_PAYLOADS["PlanPreventiveAction"])
DONE_A1 = ("CompletePreventiveAction", VALID_PAYLOADS["CompletePreventiveAction"])
VERIFIED = (PLAN_A1, DONE_A1, "VerifyFix")
OTHER_CASE = "0c4b7a7e-0bb8-4d5e-9a43-1f6f0c6a1d22"


def plan(action_id: str) -> tuple[str, dict[str, str]]:
    return (
        "PlanPreventiveAction",
        {**VALID_PAYLOADS["PlanPreventiveAction"], "action_id": action_id},
    )


def complete(action_id: str) -> tuple[str, dict[str, str]]:
    return ("CompletePreventiveAction", {"action_id": action_id, "evidence": "done"})


# --- rules for every root-cause command ------------------------------------------------------


@pytest.mark.parametrize("type_", sorted(ROOT_CAUSE_COMMANDS - {"IdentifyRootCause"}))
def test_any_command_on_an_unknown_root_cause_is_not_found(type_: str) -> None:
    Scenario(ROOT_CAUSE_ID).when(type_).rejected("not_found", "aggregate_id")


@pytest.mark.parametrize("type_", sorted(ROOT_CAUSE_COMMANDS - {"IdentifyRootCause"}))
def test_a_root_cause_command_on_a_case_id_is_not_found(type_: str) -> None:
    case().when(type_).rejected("not_found", "aggregate_id")


def test_a_case_command_on_a_root_cause_id_is_not_found() -> None:
    root_cause().when("Resolve").rejected("not_found", "aggregate_id")


@pytest.mark.parametrize("type_", sorted(ROOT_CAUSE_COMMANDS - {"IdentifyRootCause"}))
def test_root_cause_version_conflict(type_: str) -> None:
    root_cause().when(type_, expected_version=0).rejected("version_conflict", "expected_version")


# --- IdentifyRootCause -----------------------------------------------------------------------


def test_identify_root_cause() -> None:
    s = Scenario(ROOT_CAUSE_ID)
    (p,) = s.when(
        "IdentifyRootCause", {**VALID_PAYLOADS["IdentifyRootCause"], "product": "r1"}
    ).then("RootCauseIdentified")
    assert p == {
        "title": "Firmware 2.1 watchdog",
        "description": "Watchdog too eager",
        "category": None,
        "product": "r1",
    }
    assert s.state["status"] == "open"
    assert s.events[0]["aggregate_type"] == "RootCause"


def test_identify_twice_already_exists() -> None:
    root_cause().when("IdentifyRootCause").rejected("already_exists", "aggregate_id")


def test_identify_on_a_case_id_already_exists() -> None:
    Scenario(CASE_ID).given("OpenCase").when("IdentifyRootCause").rejected(
        "already_exists", "aggregate_id"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "payload.title"),
        ({"description": "  "}, "payload.description"),
        ({"category": ""}, "payload.category"),
        ({"severity": 1}, "payload.severity"),
    ],
)
def test_identify_field_rules(change: dict[str, object], field: str) -> None:
    Scenario(ROOT_CAUSE_ID).when(
        "IdentifyRootCause", {**VALID_PAYLOADS["IdentifyRootCause"], **change}
    ).rejected("invalid", field)


# --- AttachCase ------------------------------------------------------------------------------


def test_attach_case() -> None:
    s = root_cause()
    (p,) = s.when("AttachCase").then("CaseAttached")
    assert p == {"case_id": str(CASE_ID), "recurrence": False}
    assert s.state["cases"] == [str(CASE_ID)]
    assert s.state["cases_total"] == 1


def test_attaching_the_same_case_again_counts_it_once() -> None:
    s = root_cause("AttachCase", "AttachCase")
    assert s.state["cases"] == [str(CASE_ID)]


def test_attach_case_after_verification_is_a_recurrence() -> None:
    s = root_cause(*VERIFIED)
    attached, reopened = s.when("AttachCase", {"case_id": OTHER_CASE}).then(
        "CaseAttached", "RootCauseReopened"
    )
    assert attached == {"case_id": OTHER_CASE, "recurrence": True}
    assert reopened == {"reason": "recurrence", "case_id": OTHER_CASE}
    state = s.state
    assert state["status"] == "reopened"
    assert state["cases_after_verification"] == [OTHER_CASE]
    assert state["recurrences"] == 1


def test_attach_case_field_rules() -> None:
    root_cause().when("AttachCase", {"case_id": 12}).rejected("invalid", "payload.case_id")


# --- PlanPreventiveAction --------------------------------------------------------------------


def test_plan_preventive_action() -> None:
    s = root_cause()
    payload = {**VALID_PAYLOADS["PlanPreventiveAction"], "due_at": FAR_FUTURE}
    (p,) = s.when("PlanPreventiveAction", payload).then("PreventiveActionPlanned")
    assert p == {
        "action_id": "a1",
        "kind": "bug_fix",
        "description": "relax watchdog",
        "owner_id": "agent:dev",
        "due_at": FAR_FUTURE,
    }
    assert s.state["open_actions"] == ["a1"]


def test_plan_a_used_action_id_is_a_duplicate() -> None:
    root_cause(PLAN_A1).when(*PLAN_A1).rejected("duplicate_action", "payload.action_id")


def test_plan_a_completed_action_id_again_is_a_duplicate() -> None:
    root_cause(PLAN_A1, DONE_A1).when(*PLAN_A1).rejected("duplicate_action", "payload.action_id")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "prayer"}, "payload.kind"),
        ({"action_id": ""}, "payload.action_id"),
        ({"owner_id": None}, "payload.owner_id"),
        ({"description": " "}, "payload.description"),
        ({"due_at": "2020-01-01T00:00:00Z"}, "payload.due_at"),
    ],
)
def test_plan_field_rules(change: dict[str, object], field: str) -> None:
    root_cause().when(
        "PlanPreventiveAction", {**VALID_PAYLOADS["PlanPreventiveAction"], **change}
    ).rejected("invalid", field)


# --- CompletePreventiveAction ----------------------------------------------------------------


def test_complete_preventive_action() -> None:
    s = root_cause(PLAN_A1)
    (p,) = s.when(*DONE_A1).then("PreventiveActionCompleted")
    assert p == {"action_id": "a1", "evidence": "release 2.2 notes"}
    assert s.state["open_actions"] == []
    assert s.state["actions"]["a1"]["evidence"] == "release 2.2 notes"


def test_complete_an_unknown_action() -> None:
    root_cause(PLAN_A1).when(*complete("a9")).rejected("unknown_action", "payload.action_id")


def test_complete_an_action_twice_is_a_duplicate() -> None:
    root_cause(PLAN_A1, DONE_A1).when(*DONE_A1).rejected("duplicate_action", "payload.action_id")


def test_complete_field_rules() -> None:
    root_cause(PLAN_A1).when(
        "CompletePreventiveAction", {"action_id": "a1", "evidence": ""}
    ).rejected("invalid", "payload.evidence")


# --- VerifyFix -------------------------------------------------------------------------------


def test_verify_fix() -> None:
    s = root_cause(PLAN_A1, DONE_A1)
    (p,) = s.when("VerifyFix", {"note": "no repeats for 30 days"}).then("FixVerified")
    assert p == {"note": "no repeats for 30 days"}
    assert s.state["status"] == "verified"
    assert s.state["verified_at"] == s.events[-1]["occurred_at"]


def test_verify_fix_without_actions() -> None:
    root_cause().when("VerifyFix").rejected("no_actions")


def test_verify_fix_with_open_actions() -> None:
    root_cause(PLAN_A1, DONE_A1, plan("a2")).when("VerifyFix").rejected("actions_pending")


def test_verify_after_a_reopening_needs_a_new_action() -> None:
    s = root_cause(*VERIFIED, "ReopenRootCause")
    s.when("VerifyFix").rejected("no_actions")
    s.given(plan("a2"), complete("a2")).when("VerifyFix").then("FixVerified")


def test_verify_fix_field_rules() -> None:
    root_cause(PLAN_A1, DONE_A1).when("VerifyFix", {"note": ""}).rejected("invalid", "payload.note")


# --- ReopenRootCause -------------------------------------------------------------------------


def test_reopen_root_cause() -> None:
    s = root_cause(*VERIFIED)
    (p,) = s.when("ReopenRootCause").then("RootCauseReopened")
    assert p == {"reason": "seen again", "case_id": None}
    assert (s.state["status"], s.state["reopen_count"]) == ("reopened", 1)


def test_reopen_root_cause_field_rules() -> None:
    root_cause().when("ReopenRootCause", {}).rejected("invalid", "payload.reason")
