"""Case commands after the fix: resolving, the root cause, the follow-up, rating, reopening,
closing ("fix everything twice" and "follow up after the fix", design section 1).

Handlers are functions ``(case, command) -> None`` routed by :mod:`~supportes.aggregates.dispatch`
like the :class:`~supportes.aggregates.case.Case` methods: each validates every rule before
emitting any event on the case. The interpretations are listed in :mod:`supportes.aggregates.case`.
"""

from __future__ import annotations

from supportes.aggregates.base import reject
from supportes.aggregates.case import Case
from supportes.aggregates.case_status import REASON_FOLLOW_UP_NOT_RESOLVED, CaseStatus
from supportes.aggregates.commands import (
    Close,
    LinkRootCause,
    ParsedCommand,
    RateSatisfaction,
    RecordFollowUp,
    Reopen,
    Resolve,
    ScheduleFollowUp,
    UndoRootCauseLink,
    WaiveFollowUp,
    WaiveRootCause,
)
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.values import FollowUpOutcome


def resolve(case: Case, command: ParsedCommand[Resolve]) -> None:
    """``CaseResolved``; ``already_resolved``, ``no_owner``."""
    case.require_not_closed()
    if case.status == CaseStatus.RESOLVED:
        raise reject(ErrorCode.ALREADY_RESOLVED, "the case is already resolved")
    if case.owner_id is None:
        raise reject(ErrorCode.NO_OWNER, "assign an owner (or take responsibility) first")
    case._emit(
        Case.CaseResolved,
        command,
        resolution=command.payload.resolution,
        owner_id=case.owner_id,
    )


def link_root_cause(case: Case, command: ParsedCommand[LinkRootCause]) -> None:
    """``RootCauseLinked`` (dispatch adds the follow-on ``AttachCase``); also on a closed case:
    the second fix is often found after the first one closed the case ("fix everything twice")."""
    case._emit(
        Case.RootCauseLinked,
        command,
        root_cause_id=command.payload.root_cause_id,
        previous_root_cause_id=case.root_cause_id,
    )


def undo_root_cause_link(case: Case, command: ParsedCommand[UndoRootCauseLink]) -> None:
    """``RootCauseLinkUndone``, always (a compensation never fails; also on a closed case,
    and when the link is gone already): the case falls back to its latest other link."""
    p = command.payload
    standing = [r for r in case.root_cause_links if r != p.root_cause_id]
    case._emit(
        Case.RootCauseLinkUndone,
        command,
        root_cause_id=p.root_cause_id,
        linked_root_cause_id=standing[-1] if standing else None,
        refusal=p.refusal,
        attach_command_id=p.attach_command_id,
    )


def waive_root_cause(case: Case, command: ParsedCommand[WaiveRootCause]) -> None:
    """``RootCauseWaived``; needs resolved or closed (``not_resolved``), not twice
    (``already_waived``)."""
    case.require_resolved(or_closed=True)
    if case.root_cause_waived:
        raise reject(ErrorCode.ALREADY_WAIVED, "the root cause of this case is already waived")
    case._emit(Case.RootCauseWaived, command, reason=command.payload.reason)


def schedule_follow_up(case: Case, command: ParsedCommand[ScheduleFollowUp]) -> None:
    """``FollowUpScheduled``."""
    case.require_not_closed()
    case._emit(Case.FollowUpScheduled, command, due_at=command.payload.due_at)


def record_follow_up(case: Case, command: ParsedCommand[RecordFollowUp]) -> None:
    """``FollowUpRecorded`` (+ ``CaseReopened`` when not_resolved); needs resolved."""
    case.require_not_closed()
    case.require_resolved(or_closed=False)
    p = command.payload
    case._emit(Case.FollowUpRecorded, command, outcome=p.outcome, note=p.note)
    if p.outcome == FollowUpOutcome.NOT_RESOLVED:
        case.reopen_with(command, REASON_FOLLOW_UP_NOT_RESOLVED)


def waive_follow_up(case: Case, command: ParsedCommand[WaiveFollowUp]) -> None:
    """``FollowUpWaived``; needs resolved."""
    case.require_not_closed()
    case.require_resolved(or_closed=False)
    case._emit(Case.FollowUpWaived, command, reason=command.payload.reason)


def rate_satisfaction(case: Case, command: ParsedCommand[RateSatisfaction]) -> None:
    """``SatisfactionRated``; needs resolved or closed; the latest rating counts."""
    case.require_resolved(or_closed=True)
    p = command.payload
    case._emit(
        Case.SatisfactionRated,
        command,
        score=p.score,
        comment=p.comment,
        owner_id=case.owner_id,
    )


def reopen(case: Case, command: ParsedCommand[Reopen]) -> None:
    """``CaseReopened``; needs resolved or closed."""
    case.require_resolved(or_closed=True)
    case.reopen_with(command, command.payload.reason)


def close(case: Case, command: ParsedCommand[Close]) -> None:
    """``CaseClosed``; needs resolved and the follow-up settled."""
    case.require_not_closed()
    case.require_resolved(or_closed=False)
    if not case.follow_up_settled:
        raise reject(
            ErrorCode.FOLLOW_UP_PENDING,
            "record the follow-up (confirmed or no_response) or waive it first",
        )
    case._emit(Case.CaseClosed, command)
