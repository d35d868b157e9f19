"""Case commands about keeping in touch with the customer: contacts, the acknowledgement,
updates and callbacks (design section 1: "acknowledge every contact", "keep the customer in the
loop", "use callbacks, not hold queues").

Handlers are functions ``(case, command) -> None`` routed by :mod:`~supportes.aggregates.dispatch`
like the :class:`~supportes.aggregates.case.Case` methods: each validates every rule before
emitting any event on the case. The interpretations are listed in :mod:`supportes.aggregates.case`.
"""

from __future__ import annotations

from supportes.aggregates.base import reject
from supportes.aggregates.case import Case
from supportes.aggregates.case_status import REASON_CUSTOMER_REPLIED, CaseStatus
from supportes.aggregates.commands import (
    Acknowledge,
    CompleteCallback,
    ParsedCommand,
    RecordContact,
    ScheduleCallback,
    UpdateCustomer,
)
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.reference import case_reference
from supportes.aggregates.values import Direction


def record_contact(case: Case, command: ParsedCommand[RecordContact]) -> None:
    """``ContactRecorded`` (+ ``CaseReopened`` when inbound on a resolved case)."""
    case.require_not_closed()
    p = command.payload
    replied = p.direction == Direction.INBOUND and case.status == CaseStatus.RESOLVED
    case._emit(
        Case.ContactRecorded,
        command,
        direction=p.direction,
        channel=p.channel,
        summary=p.summary,
    )
    if replied:
        case.reopen_with(command, REASON_CUSTOMER_REPLIED)


def acknowledge(case: Case, command: ParsedCommand[Acknowledge]) -> None:
    """``CaseAcknowledged`` carrying the reference; ``already_acknowledged`` twice."""
    case.require_not_closed()
    if case.acknowledged_at is not None:
        raise reject(ErrorCode.ALREADY_ACKNOWLEDGED, "the case was already acknowledged")
    p = command.payload
    case._emit(
        Case.CaseAcknowledged,
        command,
        reference=case.reference or case_reference(case.id),
        channel=p.channel or case.channel,
        message=p.message,
    )


def update_customer(case: Case, command: ParsedCommand[UpdateCustomer]) -> None:
    """``CustomerUpdated``."""
    case.require_not_closed()
    p = command.payload
    case._emit(Case.CustomerUpdated, command, channel=p.channel, message=p.message)


def schedule_callback(case: Case, command: ParsedCommand[ScheduleCallback]) -> None:
    """``CallbackScheduled`` (agent defaults to the owner)."""
    case.require_not_closed()
    p = command.payload
    case._emit(
        Case.CallbackScheduled,
        command,
        due_at=p.due_at,
        agent_id=p.agent_id or case.owner_id,
    )


def complete_callback(case: Case, command: ParsedCommand[CompleteCallback]) -> None:
    """``CallbackCompleted``."""
    case.require_not_closed()
    case._emit(
        Case.CallbackCompleted,
        command,
        outcome=command.payload.outcome,
        due_at=case.callback_due_at,
    )
