"""The ``RootCause`` aggregate: "fix everything twice".

Status: ``open`` -> ``verified`` (``VerifyFix``) -> ``reopened`` (``ReopenRootCause``, or a case
attached after verification: a recurrence) -> ``verified`` ... Interpretations:

* ``VerifyFix`` needs at least one action (``no_actions``), none open (``actions_pending``) and,
  after a reopening, at least one action planned since (``no_actions``): a recurrence means the
  earlier actions did not prevent it.
* Completing an already completed action is ``duplicate_action``.
* ``AttachCase`` while verified emits ``CaseAttached`` (``recurrence: true``) and
  ``RootCauseReopened`` ("recurrence"). Attaching the same case again is accepted (a case id
  counts once in ``cases``).
* ``ReopenRootCause`` is accepted in any status.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate

from supportes.aggregates.base import SupportAggregate, reject
from supportes.aggregates.commands import (
    AttachCase,
    CompletePreventiveAction,
    IdentifyRootCause,
    ParsedCommand,
    PlanPreventiveAction,
    ReopenRootCause,
    VerifyFix,
)
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.values import PreventiveActionKind

REASON_RECURRENCE = "recurrence"


class RootCauseStatus(StrEnum):
    """Lifecycle status of a root cause."""

    OPEN = "open"
    VERIFIED = "verified"
    REOPENED = "reopened"


class PreventiveAction(TypedDict):
    """A planned preventive action as held in the aggregate's state."""

    kind: PreventiveActionKind
    description: str
    owner_id: str
    due_at: datetime | None
    planned_at: datetime
    completed_at: datetime | None
    evidence: str | None


class RootCause(SupportAggregate):
    """A root cause with its preventive actions and attached cases."""

    aggregate_type = "RootCause"

    def __init__(self) -> None:
        super().__init__()
        self.title: str = ""
        self.description: str = ""
        self.category: str | None = None
        self.product: str | None = None
        self.status: RootCauseStatus = RootCauseStatus.OPEN
        self.actions: dict[str, PreventiveAction] = {}
        self.actions_since_reopen: int = 0
        self.cases: list[UUID] = []
        self.cases_after_verification: list[UUID] = []
        self.verified_at: datetime | None = None
        self.reopen_count: int = 0

    # --- derived facts -------------------------------------------------------------------

    @property
    def open_actions(self) -> list[str]:
        """Ids of planned actions not yet completed, in planning order."""
        return [k for k, a in self.actions.items() if a["completed_at"] is None]

    def derived_facts(self) -> dict[str, Any]:
        """Facts computed from state, for snapshots and projections."""
        return {
            "identified_at": self.created_on,
            "open_actions": self.open_actions,
            "cases_total": len(self.cases),
            "recurrences": len(self.cases_after_verification),
        }

    # --- events --------------------------------------------------------------------------

    class Event(SupportAggregate.Event):
        """Base of root-cause events."""

    class RootCauseIdentified(Event, Aggregate.Created):
        title: str
        description: str
        category: str | None
        product: str | None

        def apply(self, aggregate: RootCause) -> None:
            aggregate.title = self.title
            aggregate.description = self.description
            aggregate.category = self.category
            aggregate.product = self.product

    class CaseAttached(Event):
        """``recurrence`` is true when attached while the fix was verified."""

        case_id: UUID
        recurrence: bool

        def apply(self, aggregate: RootCause) -> None:
            if self.case_id not in aggregate.cases:
                aggregate.cases.append(self.case_id)
            if self.recurrence and self.case_id not in aggregate.cases_after_verification:
                aggregate.cases_after_verification.append(self.case_id)

    class RootCauseReopened(Event):
        """``case_id`` is the recurring case when reopened by a recurrence."""

        reason: str
        case_id: UUID | None

        def apply(self, aggregate: RootCause) -> None:
            aggregate.status = RootCauseStatus.REOPENED
            aggregate.reopen_count += 1
            aggregate.actions_since_reopen = 0

    class PreventiveActionPlanned(Event):
        action_id: str
        kind: PreventiveActionKind
        description: str
        owner_id: str
        due_at: datetime | None

        def apply(self, aggregate: RootCause) -> None:
            aggregate.actions[self.action_id] = PreventiveAction(
                kind=self.kind,
                description=self.description,
                owner_id=self.owner_id,
                due_at=self.due_at,
                planned_at=self.timestamp,
                completed_at=None,
                evidence=None,
            )
            aggregate.actions_since_reopen += 1

    class PreventiveActionCompleted(Event):
        action_id: str
        evidence: str

        def apply(self, aggregate: RootCause) -> None:
            action = aggregate.actions[self.action_id]
            action["completed_at"] = self.timestamp
            action["evidence"] = self.evidence

    class FixVerified(Event):
        note: str | None

        def apply(self, aggregate: RootCause) -> None:
            aggregate.status = RootCauseStatus.VERIFIED
            aggregate.verified_at = self.timestamp

    # --- command handlers ----------------------------------------------------------------

    @classmethod
    def identify(cls, command: ParsedCommand[IdentifyRootCause]) -> RootCause:
        """``IdentifyRootCause`` -> ``RootCauseIdentified``."""
        p = command.payload
        return cls._create(
            cls.RootCauseIdentified,
            id=command.aggregate_id,
            timestamp=command.issued_at,
            title=p.title,
            description=p.description,
            category=p.category,
            product=p.product,
        )

    def attach_case(self, command: ParsedCommand[AttachCase]) -> None:
        """``CaseAttached`` (+ ``RootCauseReopened`` "recurrence" when verified)."""
        case_id = command.payload.case_id
        recurrence = self.status == RootCauseStatus.VERIFIED
        self._emit(RootCause.CaseAttached, command, case_id=case_id, recurrence=recurrence)
        if recurrence:
            self._emit(
                RootCause.RootCauseReopened, command, reason=REASON_RECURRENCE, case_id=case_id
            )

    def plan_preventive_action(self, command: ParsedCommand[PlanPreventiveAction]) -> None:
        """``PreventiveActionPlanned``; ``duplicate_action`` for a used ``action_id``."""
        p = command.payload
        if p.action_id in self.actions:
            raise reject(
                ErrorCode.DUPLICATE_ACTION,
                f"action {p.action_id!r} is already planned",
                "payload.action_id",
            )
        self._emit(
            RootCause.PreventiveActionPlanned,
            command,
            action_id=p.action_id,
            kind=p.kind,
            description=p.description,
            owner_id=p.owner_id,
            due_at=p.due_at,
        )

    def complete_preventive_action(self, command: ParsedCommand[CompletePreventiveAction]) -> None:
        """``PreventiveActionCompleted``; ``unknown_action``, ``duplicate_action`` if done."""
        p = command.payload
        action = self.actions.get(p.action_id)
        if action is None:
            raise reject(
                ErrorCode.UNKNOWN_ACTION,
                f"no action {p.action_id!r} is planned",
                "payload.action_id",
            )
        if action["completed_at"] is not None:
            raise reject(
                ErrorCode.DUPLICATE_ACTION,
                f"action {p.action_id!r} is already completed",
                "payload.action_id",
            )
        self._emit(
            RootCause.PreventiveActionCompleted, command, action_id=p.action_id, evidence=p.evidence
        )

    def verify_fix(self, command: ParsedCommand[VerifyFix]) -> None:
        """``FixVerified``; ``no_actions``, ``actions_pending``."""
        if not self.actions:
            raise reject(ErrorCode.NO_ACTIONS, "plan and complete a preventive action first")
        if self.open_actions:
            raise reject(
                ErrorCode.ACTIONS_PENDING,
                f"open preventive actions: {', '.join(self.open_actions)}",
            )
        if self.actions_since_reopen == 0:
            raise reject(
                ErrorCode.NO_ACTIONS,
                "the root cause was reopened: plan a new preventive action first",
            )
        self._emit(RootCause.FixVerified, command, note=command.payload.note)

    def reopen(self, command: ParsedCommand[ReopenRootCause]) -> None:
        """``RootCauseReopened``."""
        self._emit(
            RootCause.RootCauseReopened, command, reason=command.payload.reason, case_id=None
        )
