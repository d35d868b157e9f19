"""Given/when/then tests for every Case command: accepted paths and each rejection."""

from __future__ import annotations

from uuid import UUID

import pytest
from domain_gwt import (
    AGENT,
    CASE_COMMANDS,
    CASE_ID,
    CLOSABLE,
    CLOSED,
    CUSTOMER,
    FAR_FUTURE,
    OTHER_AGENT,
    RESOLVED,
    ROOT_CAUSE_ID,
    SYSTEM,
    VALID_PAYLOADS,
    Scenario,
    case,
)

from supportes.aggregates import case_reference, compensations, parse_command

# --- rules that apply to every case command --------------------------------------------------


@pytest.mark.parametrize("type_", sorted(CASE_COMMANDS - {"OpenCase"}))
def test_any_command_on_an_unknown_case_is_not_found(type_: str) -> None:
    Scenario(CASE_ID).when(type_).rejected("not_found", "aggregate_id")


@pytest.mark.parametrize("type_", sorted(CASE_COMMANDS))
def test_expected_version_mismatch_is_a_version_conflict(type_: str) -> None:
    s = case()
    s.when(type_, expected_version=7).rejected(
        "already_exists" if type_ == "OpenCase" else "version_conflict",
        "aggregate_id" if type_ == "OpenCase" else "expected_version",
    )


@pytest.mark.parametrize(
    "type_",
    sorted(
        CASE_COMMANDS
        - {"OpenCase", "Reopen", "RateSatisfaction", "UndoRootCauseLink"}
        - {"LinkRootCause", "WaiveRootCause"}  # the second fix: also after closing
    ),
)
def test_a_closed_case_accepts_only_reopen_and_ratings(type_: str) -> None:
    """(and the writer's compensation, which never fails: see the UndoRootCauseLink tests)"""
    case(*CLOSED).when(type_).rejected("case_closed")


def test_matching_expected_version_is_accepted() -> None:
    case().when("Acknowledge", expected_version=1).then("CaseAcknowledged")


# --- OpenCase --------------------------------------------------------------------------------


def test_open_case() -> None:
    s = Scenario(CASE_ID)
    (p,) = s.when("OpenCase", {**VALID_PAYLOADS["OpenCase"], "tags": ["wifi"]}).then("CaseOpened")
    assert p["customer_id"] == "cust:42"
    assert p["priority"] == "normal"
    assert p["tags"] == ["wifi"]
    assert p["reference"] == case_reference(CASE_ID)
    assert s.state["status"] == "new"
    assert s.state["inbound_contacts"] == 1


def test_open_case_with_expected_version_zero() -> None:
    Scenario(CASE_ID).when("OpenCase", expected_version=0).then("CaseOpened")


def test_open_case_with_expected_version_one_conflicts() -> None:
    Scenario(CASE_ID).when("OpenCase", expected_version=1).rejected(
        "version_conflict", "expected_version"
    )


def test_open_case_twice_already_exists() -> None:
    case().when("OpenCase").rejected("already_exists", "aggregate_id")


def test_open_case_on_a_root_cause_id_already_exists() -> None:
    s = Scenario(ROOT_CAUSE_ID).given("IdentifyRootCause")
    s.when("OpenCase").rejected("already_exists", "aggregate_id")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "payload.channel"),
        ({"priority": "critical"}, "payload.priority"),
        ({"subject": "   "}, "payload.subject"),
        ({"description": ""}, "payload.description"),
        ({"customer_id": 42}, "payload.customer_id"),
        ({"tags": ["ok", " "]}, "payload.tags[1]"),
        ({"tags": "wifi"}, "payload.tags"),
        ({"colour": "red"}, "payload.colour"),
    ],
)
def test_open_case_field_rules(change: dict[str, object], field: str) -> None:
    s = Scenario(CASE_ID)
    s.when("OpenCase", {**VALID_PAYLOADS["OpenCase"], **change}).rejected("invalid", field)
    assert s.aggregate is None


def test_open_case_requires_subject() -> None:
    payload = {k: v for k, v in VALID_PAYLOADS["OpenCase"].items() if k != "subject"}
    Scenario(CASE_ID).when("OpenCase", payload).rejected("invalid", "payload.subject")


# --- RecordContact ---------------------------------------------------------------------------


def test_record_inbound_contact() -> None:
    s = case()
    (p,) = s.when(
        "RecordContact", {"direction": "inbound", "channel": "chat", "summary": "more detail"}
    ).then("ContactRecorded")
    assert p == {"direction": "inbound", "channel": "chat", "summary": "more detail"}
    assert s.state["inbound_contacts"] == 2


def test_inbound_contact_on_a_resolved_case_reopens_it() -> None:
    s = case(*RESOLVED)
    _, reopened = s.when(
        "RecordContact",
        {"direction": "inbound", "channel": "email", "summary": "still broken"},
        actor=CUSTOMER,
    ).then("ContactRecorded", "CaseReopened")
    assert reopened == {"reason": "customer replied", "suggested_owner_id": "agent:maria"}
    assert s.state["status"] == "assigned"
    assert s.state["reopen_count"] == 1
    assert s.state["resolved_at"] is None


def test_outbound_contact_on_a_resolved_case_does_not_reopen() -> None:
    s = case(*RESOLVED)
    s.when("RecordContact").then("ContactRecorded")
    assert s.state["status"] == "resolved"
    assert s.state["last_customer_update_at"] is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"direction": "sideways"}, "payload.direction"),
        ({"channel": "pigeon"}, "payload.channel"),
        ({"summary": " \n"}, "payload.summary"),
    ],
)
def test_record_contact_field_rules(change: dict[str, object], field: str) -> None:
    case().when("RecordContact", {**VALID_PAYLOADS["RecordContact"], **change}).rejected(
        "invalid", field
    )


# --- Acknowledge -----------------------------------------------------------------------------


def test_acknowledge_gives_the_reference() -> None:
    s = case()
    (p,) = s.when("Acknowledge", {"message": "We are on it"}).then("CaseAcknowledged")
    assert p == {
        "reference": case_reference(CASE_ID),
        "channel": "email",
        "message": "We are on it",
    }
    assert s.state["status"] == "acknowledged"
    assert s.state["acknowledged_at"] == s.events[-1]["occurred_at"]


def test_acknowledge_twice_is_rejected() -> None:
    case("Acknowledge").when("Acknowledge").rejected("already_acknowledged")


def test_acknowledging_an_assigned_case_keeps_it_assigned() -> None:
    s = case("Assign")
    s.when("Acknowledge", {"channel": "phone"}).then("CaseAcknowledged")
    assert s.state["status"] == "assigned"


def test_acknowledge_field_rules() -> None:
    case().when("Acknowledge", {"channel": "telex"}).rejected("invalid", "payload.channel")


# --- Assign ----------------------------------------------------------------------------------


def test_assign_sets_the_owner() -> None:
    s = case("Acknowledge")
    (p,) = s.when("Assign", {"agent_id": "agent:tom", "reason": "speaks Dutch"}).then(
        "CaseAssigned"
    )
    assert p == {"agent_id": "agent:tom", "reason": "speaks Dutch", "previous_owner_id": None}
    assert (s.state["status"], s.state["owner_id"]) == ("assigned", "agent:tom")


def test_reassign_counts_distinct_owners() -> None:
    s = case("Assign", ("Assign", {"agent_id": "agent:tom"}), "Assign")
    assert s.state["distinct_owners"] == 2
    assert s.events[-1]["payload"]["previous_owner_id"] == "agent:tom"
    assert s.state["responsible_id"] is None


def test_assign_field_rules() -> None:
    case().when("Assign", {"agent_id": ""}).rejected("invalid", "payload.agent_id")


# --- TakeResponsibility ----------------------------------------------------------------------


def test_take_responsibility_makes_the_actor_responsible_and_owner() -> None:
    s = case()
    (p,) = s.when("TakeResponsibility", {"note": "mine"}, actor=OTHER_AGENT).then(
        "ResponsibilityTaken"
    )
    assert p == {
        "agent_id": "agent:tom",
        "note": "mine",
        "previous_responsible_id": None,
        "owner_id": "agent:tom",
    }
    assert (s.state["responsible_id"], s.state["owner_id"]) == ("agent:tom", "agent:tom")
    assert s.state["status"] == "assigned"


def test_take_responsibility_keeps_an_existing_owner() -> None:
    s = case("Assign")
    (p,) = s.when("TakeResponsibility", actor=OTHER_AGENT).then("ResponsibilityTaken")
    assert p["owner_id"] == "agent:maria"
    assert (s.state["responsible_id"], s.state["owner_id"]) == ("agent:tom", "agent:maria")


@pytest.mark.parametrize("actor", [CUSTOMER, SYSTEM])
def test_only_an_agent_can_take_responsibility(actor: dict[str, str]) -> None:
    case().when("TakeResponsibility", actor=actor).rejected("invalid", "actor.kind")


def test_take_responsibility_field_rules() -> None:
    case().when("TakeResponsibility", {"note": ""}).rejected("invalid", "payload.note")


# --- Escalate --------------------------------------------------------------------------------


def test_escalate_passes_ownership_and_responsibility() -> None:
    s = case("Assign", "TakeResponsibility")
    (p,) = s.when(
        "Escalate", {"to_agent_id": "agent:lead", "reason": "refund", "authority": "refunds"}
    ).then("CaseEscalated")
    assert p == {
        "to_agent_id": "agent:lead",
        "reason": "refund",
        "authority": "refunds",
        "previous_owner_id": "agent:maria",
        "previous_responsible_id": "agent:maria",
    }
    state = s.state
    assert (state["owner_id"], state["responsible_id"]) == ("agent:lead", "agent:lead")
    assert state["escalated"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [({"to_agent_id": " "}, "payload.to_agent_id"), ({"reason": ""}, "payload.reason")],
)
def test_escalate_field_rules(change: dict[str, object], field: str) -> None:
    case().when("Escalate", {**VALID_PAYLOADS["Escalate"], **change}).rejected("invalid", field)


# --- UpdateCustomer --------------------------------------------------------------------------


def test_update_customer() -> None:
    s = case()
    (p,) = s.when("UpdateCustomer").then("CustomerUpdated")
    assert p == {"channel": "email", "message": "Still on it"}
    assert s.state["last_customer_update_at"] == s.events[-1]["occurred_at"]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"channel": "x"}, "payload.channel"), ({"message": "  "}, "payload.message")],
)
def test_update_customer_field_rules(change: dict[str, object], field: str) -> None:
    case().when("UpdateCustomer", {**VALID_PAYLOADS["UpdateCustomer"], **change}).rejected(
        "invalid", field
    )


# --- ScheduleCallback / CompleteCallback -----------------------------------------------------


def test_schedule_callback_defaults_to_the_owner() -> None:
    s = case("Assign")
    (p,) = s.when("ScheduleCallback", {"due_at": "2031-01-01T09:30:00+01:00"}).then(
        "CallbackScheduled"
    )
    assert p == {"due_at": "2031-01-01T08:30:00Z", "agent_id": "agent:maria"}
    assert s.state["callback_due_at"] == "2031-01-01T08:30:00Z"


@pytest.mark.parametrize(
    "due_at",
    ["2026-11-22T10:05:00Z", "2020-01-01T00:00:00Z", "2031-01-01T00:00:00", "tomorrow", 1893456000],
)
def test_schedule_callback_due_at_must_be_an_aware_time_after_issued_at(due_at: object) -> None:
    # the first command after OpenCase is issued at 10:10
    case().when("ScheduleCallback", {"due_at": due_at}).rejected("invalid", "payload.due_at")


def test_complete_callback_clears_the_pending_callback() -> None:
    s = case("ScheduleCallback")
    (p,) = s.when("CompleteCallback").then("CallbackCompleted")
    assert p == {"outcome": "talked it through", "due_at": FAR_FUTURE}
    assert s.state["callback_due_at"] is None


def test_complete_callback_without_one_pending_is_recorded() -> None:
    (p,) = case().when("CompleteCallback").then("CallbackCompleted")
    assert p["due_at"] is None


def test_complete_callback_field_rules() -> None:
    case().when("CompleteCallback", {"outcome": ""}).rejected("invalid", "payload.outcome")


# --- ApplyFix --------------------------------------------------------------------------------


def test_apply_fix_with_a_known_answer() -> None:
    s = case()
    (p,) = s.when(
        "ApplyFix", {"kind": "answer", "summary": "see KB-7", "known_answer_id": "kb:7"}
    ).then("FixApplied")
    assert p == {"kind": "answer", "summary": "see KB-7", "known_answer_id": "kb:7"}
    assert s.state["known_answers_given"] == ["kb:7"]
    assert s.state["status"] == "new"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "magic"}, "payload.kind"),
        ({"summary": ""}, "payload.summary"),
        ({"known_answer_id": " "}, "payload.known_answer_id"),
    ],
)
def test_apply_fix_field_rules(change: dict[str, object], field: str) -> None:
    case().when("ApplyFix", {**VALID_PAYLOADS["ApplyFix"], **change}).rejected("invalid", field)


# --- Resolve ---------------------------------------------------------------------------------


def test_resolve() -> None:
    s = case("Acknowledge", "Assign")
    (p,) = s.when("Resolve").then("CaseResolved")
    assert p == {"resolution": "rolled back firmware", "owner_id": "agent:maria"}
    state = s.state
    assert state["status"] == "resolved"
    assert state["resolved_at"] == state["first_resolved_at"] == s.events[-1]["occurred_at"]
    assert state["follow_up"] == "pending"
    assert state["first_contact_resolution"] is True


@pytest.mark.parametrize("owner_step", ["Assign", "TakeResponsibility", "Escalate"])
def test_any_kind_of_owner_can_resolve(owner_step: str) -> None:
    case(owner_step).when("Resolve").then("CaseResolved")


def test_resolve_needs_an_owner() -> None:
    case("Acknowledge").when("Resolve").rejected("no_owner")


def test_resolve_twice_is_already_resolved() -> None:
    case(*RESOLVED).when("Resolve").rejected("already_resolved")


def test_resolve_field_rules() -> None:
    case("Assign").when("Resolve", {}).rejected("invalid", "payload.resolution")


def test_escalated_case_is_not_a_first_contact_resolution() -> None:
    s = case("Escalate", "Resolve")
    assert s.state["first_contact_resolution"] is False


def test_second_inbound_contact_is_not_a_first_contact_resolution() -> None:
    inbound = {"direction": "inbound", "channel": "email", "summary": "again"}
    s = case(("RecordContact", inbound), *RESOLVED)
    assert s.state["first_contact_resolution"] is False


# --- LinkRootCause ---------------------------------------------------------------------------


def test_link_root_cause_emits_a_follow_on_attach_case() -> None:
    s = case()
    outcome = s.when("LinkRootCause", correlation_id="5b0d2c0e-4a7e-4c52-8f4b-2b5a4e1c9a11")
    (p,) = outcome.then("RootCauseLinked")
    assert p == {"root_cause_id": str(ROOT_CAUSE_ID), "previous_root_cause_id": None}
    assert outcome.decision is not None
    (follow_on,) = outcome.decision.follow_on_commands
    assert follow_on["type"] == "AttachCase"
    assert follow_on["aggregate_id"] == str(ROOT_CAUSE_ID)
    assert follow_on["payload"] == {"case_id": str(CASE_ID)}
    assert follow_on["issued_at"] == outcome.raw["issued_at"]
    assert follow_on["actor"] == {"id": "system:supportes", "kind": "system"}
    assert follow_on["correlation_id"] == "5b0d2c0e-4a7e-4c52-8f4b-2b5a4e1c9a11"
    assert follow_on["command_id"] != outcome.raw["command_id"]
    assert s.state["root_cause_id"] == str(ROOT_CAUSE_ID)


def test_link_root_cause_field_rules() -> None:
    case().when("LinkRootCause", {"root_cause_id": "nope"}).rejected(
        "invalid", "payload.root_cause_id"
    )


# --- ScheduleFollowUp ------------------------------------------------------------------------


def test_schedule_follow_up() -> None:
    s = case(*RESOLVED)
    (p,) = s.when("ScheduleFollowUp").then("FollowUpScheduled")
    assert p == {"due_at": FAR_FUTURE}
    assert s.state["follow_up_due_at"] == FAR_FUTURE


def test_schedule_follow_up_field_rules() -> None:
    case().when("ScheduleFollowUp", {"due_at": "2020-01-01T00:00:00Z"}).rejected(
        "invalid", "payload.due_at"
    )


# --- RecordFollowUp --------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["confirmed", "no_response"])
def test_record_follow_up_settles_it(outcome: str) -> None:
    s = case(*RESOLVED)
    (p,) = s.when("RecordFollowUp", {"outcome": outcome, "note": "ok"}).then("FollowUpRecorded")
    assert p == {"outcome": outcome, "note": "ok"}
    assert s.state["follow_up"] == outcome


def test_not_resolved_follow_up_reopens() -> None:
    s = case(*RESOLVED)
    _, reopened = s.when("RecordFollowUp", {"outcome": "not_resolved"}).then(
        "FollowUpRecorded", "CaseReopened"
    )
    assert reopened["reason"] == "follow-up: not resolved"
    assert reopened["suggested_owner_id"] == "agent:maria"
    assert (s.state["status"], s.state["follow_up"]) == ("assigned", "not_due")


@pytest.mark.parametrize("steps", [(), ("Acknowledge", "Assign")])
def test_record_follow_up_needs_a_resolved_case(steps: tuple[str, ...]) -> None:
    case(*steps).when("RecordFollowUp").rejected("not_resolved")


def test_record_follow_up_field_rules() -> None:
    case(*RESOLVED).when("RecordFollowUp", {"outcome": "maybe"}).rejected(
        "invalid", "payload.outcome"
    )


# --- WaiveFollowUp ---------------------------------------------------------------------------


def test_waive_follow_up() -> None:
    s = case(*RESOLVED)
    (p,) = s.when("WaiveFollowUp").then("FollowUpWaived")
    assert p == {"reason": "customer asked not to be contacted"}
    assert s.state["follow_up"] == "waived"


def test_waive_follow_up_needs_a_resolved_case() -> None:
    case("Assign").when("WaiveFollowUp").rejected("not_resolved")


def test_waive_follow_up_field_rules() -> None:
    case(*RESOLVED).when("WaiveFollowUp", {"reason": " "}).rejected("invalid", "payload.reason")


# --- RateSatisfaction ------------------------------------------------------------------------


def test_rate_satisfaction_credits_the_owner_at_the_time() -> None:
    s = case(*RESOLVED)
    (p,) = s.when("RateSatisfaction", {"score": 4, "comment": "quick"}, actor=CUSTOMER).then(
        "SatisfactionRated"
    )
    assert p == {"score": 4, "comment": "quick", "owner_id": "agent:maria"}
    assert s.state["csat_score"] == 4


def test_rate_satisfaction_on_a_closed_case() -> None:
    s = case(*CLOSED)
    s.when("RateSatisfaction", {"score": 1}).then("SatisfactionRated")
    assert (s.state["status"], s.state["csat_score"]) == ("closed", 1)


def test_rate_satisfaction_needs_a_resolved_case() -> None:
    case("Assign").when("RateSatisfaction").rejected("not_resolved")


@pytest.mark.parametrize("score", [0, 6, -1, 3.0, 4.5, "3", True, False, None])
def test_score_must_be_an_integer_from_1_to_5(score: object) -> None:
    case(*RESOLVED).when("RateSatisfaction", {"score": score}).rejected("invalid", "payload.score")


# --- Reopen ----------------------------------------------------------------------------------


def test_reopen_a_resolved_case() -> None:
    s = case(*RESOLVED)
    (p,) = s.when("Reopen").then("CaseReopened")
    assert p == {"reason": "problem is back", "suggested_owner_id": "agent:maria"}
    state = s.state
    assert (state["status"], state["owner_id"], state["reopen_count"]) == (
        "assigned",
        "agent:maria",
        1,
    )
    assert state["first_resolved_at"] is not None
    assert state["first_contact_resolution"] is False


def test_reopen_a_closed_case() -> None:
    s = case(*CLOSED)
    s.when("Reopen").then("CaseReopened")
    assert (s.state["status"], s.state["closed_at"]) == ("assigned", None)


@pytest.mark.parametrize("steps", [(), ("Acknowledge",), ("Assign",)])
def test_reopen_needs_a_resolved_or_closed_case(steps: tuple[str, ...]) -> None:
    case(*steps).when("Reopen").rejected("not_resolved")


def test_reopen_field_rules() -> None:
    case(*RESOLVED).when("Reopen", {"reason": ""}).rejected("invalid", "payload.reason")


# --- Close -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settle",
    [
        ("RecordFollowUp", {"outcome": "confirmed"}),
        ("RecordFollowUp", {"outcome": "no_response"}),
        ("WaiveFollowUp", {"reason": "asked"}),
    ],
)
def test_close_after_follow_up(settle: tuple[str, dict[str, str]]) -> None:
    s = case(*RESOLVED, settle)
    (p,) = s.when("Close").then("CaseClosed")
    assert p == {}
    assert (s.state["status"], s.state["closed_at"]) == ("closed", s.events[-1]["occurred_at"])


@pytest.mark.parametrize("steps", [(), ("Acknowledge",), ("Assign",)])
def test_close_needs_a_resolved_case(steps: tuple[str, ...]) -> None:
    case(*steps).when("Close").rejected("not_resolved")


def test_close_needs_the_follow_up() -> None:
    case(*RESOLVED).when("Close").rejected("follow_up_pending")


def test_a_scheduled_follow_up_is_not_a_recorded_one() -> None:
    case(*RESOLVED, "ScheduleFollowUp").when("Close").rejected("follow_up_pending")


def test_a_reopened_case_needs_a_new_follow_up() -> None:
    s = case(*CLOSABLE, "Reopen", "Resolve")
    s.when("Close").rejected("follow_up_pending")
    s.given("RecordFollowUp").when("Close").then("CaseClosed")
    assert s.state["reopen_count"] == 1


def test_close_takes_no_payload() -> None:
    case(*CLOSABLE).when("Close", {"force": True}).rejected("invalid", "payload.force")


# --- NoteSuggestion --------------------------------------------------------------------------


def test_note_suggestion() -> None:
    s = case()
    (p,) = s.when("NoteSuggestion").then("SuggestionNoted")
    assert p == {"suggestion": "warn before auto-updates"}
    assert s.state["suggestions"] == 1


def test_note_suggestion_field_rules() -> None:
    case().when("NoteSuggestion", {"suggestion": ""}).rejected("invalid", "payload.suggestion")


# --- whole lifecycle -------------------------------------------------------------------------


def test_lifecycle_statuses_and_times() -> None:
    s = Scenario(CASE_ID)
    seen = []
    for step in ("OpenCase", "Acknowledge", "Assign", "Resolve", "RecordFollowUp", "Close"):
        s.given(step)
        seen.append(s.state["status"])
    assert seen == ["new", "acknowledged", "assigned", "resolved", "resolved", "closed"]
    state = s.state
    assert state["opened_at"] < state["acknowledged_at"] < state["resolved_at"] < state["closed_at"]
    assert state["version"] == 6
    assert state["first_contact_resolution"] is True


def test_agent_actor_is_recorded_on_events() -> None:
    s = case()
    s.when("Assign", actor=AGENT)
    assert s.events[-1]["actor"] == AGENT


# --- UndoRootCauseLink (the compensation of a refused AttachCase) ----------------------------

OTHER_ROOT_CAUSE = "0c9a3d52-1e7b-4f11-9b6c-7d2e5a4f8b30"
UNKNOWN_ROOT_CAUSE = "7e4f1a26-93c1-4d8a-a0b5-5f6e2c9d1b47"
ATTACH_ID = "3f8e9a52-6f5d-4b0e-9a51-0c2d7e4b9a10"


def _undo(root_cause_id: str) -> dict[str, str]:
    return {"root_cause_id": root_cause_id, "refusal": "not_found", "attach_command_id": ATTACH_ID}


def test_a_refused_follow_on_attach_case_is_compensated_on_its_case() -> None:
    """The writer's rule: a rejected follow-on AttachCase gives an UndoRootCauseLink to the case
    (deterministic id, system actor, same issued_at and correlation)."""
    linked = case().when("LinkRootCause", {"root_cause_id": UNKNOWN_ROOT_CAUSE})
    assert linked.decision is not None
    (attach,) = linked.decision.follow_on_commands
    refused = Scenario(UUID(UNKNOWN_ROOT_CAUSE)).submit(attach)
    assert refused.rejection is not None
    assert refused.rejection.code == "not_found"
    undo = compensations(parse_command(attach), refused.rejection)
    assert undo == compensations(parse_command(attach), refused.rejection)  # deterministic
    (command,) = undo
    assert command["type"] == "UndoRootCauseLink"
    assert command["aggregate_id"] == str(CASE_ID)
    assert command["payload"] == {
        "root_cause_id": UNKNOWN_ROOT_CAUSE,
        "refusal": "not_found",
        "attach_command_id": attach["command_id"],
    }
    assert command["actor"] == SYSTEM
    assert (command["issued_at"], command["correlation_id"]) == (
        attach["issued_at"],
        attach["correlation_id"],
    )
    assert command["command_id"] not in (attach["command_id"], linked.raw["command_id"])


def test_only_the_systems_follow_on_is_compensated() -> None:
    """An AttachCase a lead sent by hand and got refused undoes nothing (no link caused it)."""
    raw = Scenario(UUID(UNKNOWN_ROOT_CAUSE)).command("AttachCase", {"case_id": str(CASE_ID)})
    refused = Scenario(UUID(UNKNOWN_ROOT_CAUSE)).submit(raw)
    assert refused.rejection is not None
    assert compensations(parse_command(raw), refused.rejection) == []
    other = Scenario(CASE_ID).command("Acknowledge", actor=SYSTEM)
    assert compensations(parse_command(other), refused.rejection) == []


def test_undoing_the_current_link_falls_back_to_the_previous_one() -> None:
    s = case(
        ("LinkRootCause", {"root_cause_id": OTHER_ROOT_CAUSE}),
        ("LinkRootCause", {"root_cause_id": UNKNOWN_ROOT_CAUSE}),
    )
    (p,) = s.when("UndoRootCauseLink", _undo(UNKNOWN_ROOT_CAUSE), actor=SYSTEM).then(
        "RootCauseLinkUndone"
    )
    assert p == {**_undo(UNKNOWN_ROOT_CAUSE), "linked_root_cause_id": OTHER_ROOT_CAUSE}
    assert s.state["root_cause_id"] == OTHER_ROOT_CAUSE


def test_undoing_an_older_link_keeps_the_current_one_and_skips_refused_ones() -> None:
    s = case(
        ("LinkRootCause", {"root_cause_id": OTHER_ROOT_CAUSE}),
        ("LinkRootCause", {"root_cause_id": UNKNOWN_ROOT_CAUSE}),
        ("LinkRootCause", {"root_cause_id": str(ROOT_CAUSE_ID)}),
    )
    (p,) = s.when("UndoRootCauseLink", _undo(UNKNOWN_ROOT_CAUSE)).then("RootCauseLinkUndone")
    assert p["linked_root_cause_id"] == str(ROOT_CAUSE_ID)
    (p,) = s.when("UndoRootCauseLink", _undo(str(ROOT_CAUSE_ID))).then("RootCauseLinkUndone")
    assert p["linked_root_cause_id"] == OTHER_ROOT_CAUSE  # not the refused one in between
    (p,) = s.when("UndoRootCauseLink", _undo(OTHER_ROOT_CAUSE)).then("RootCauseLinkUndone")
    assert p["linked_root_cause_id"] is None
    assert s.state["root_cause_id"] is None
    assert s.state["root_cause_links"] == []


def test_a_compensation_is_recorded_on_a_closed_case_and_twice() -> None:
    """It never fails: on a closed case, and for a link undone already (a second refusal of
    the same root cause), the event is written and the state stays right."""
    s = case(("LinkRootCause", {"root_cause_id": UNKNOWN_ROOT_CAUSE}), *CLOSED)
    assert s.state["status"] == "closed"
    s.when("UndoRootCauseLink", _undo(UNKNOWN_ROOT_CAUSE)).then("RootCauseLinkUndone")
    (p,) = s.when("UndoRootCauseLink", _undo(UNKNOWN_ROOT_CAUSE)).then("RootCauseLinkUndone")
    assert p["linked_root_cause_id"] is None
    assert s.state["root_cause_id"] is None
