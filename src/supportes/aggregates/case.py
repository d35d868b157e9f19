"""The ``Case`` aggregate: one customer problem from first contact to closure.

The aggregate (state, events, and the handlers of opening, ownership and fixing) is here; the
handlers of contacts, acknowledgement, updates and callbacks are in
:mod:`~supportes.aggregates.case_contact`, those after the fix (resolve, root cause, follow-up,
rating, reopen, close) in :mod:`~supportes.aggregates.case_aftercare`, the status enums in
:mod:`~supportes.aggregates.case_status`.

Status (design section 4): ``new`` -> ``acknowledged`` -> ``assigned`` -> ``resolved`` ->
``closed``. Interpretations where the design leaves room:

* Getting an owner (``Assign``, ``Escalate``, ``TakeResponsibility``) moves a ``new`` or
  ``acknowledged`` case to ``assigned``; acknowledging an already assigned case keeps it
  ``assigned`` (``acknowledged_at`` is still recorded). Owner changes on a resolved case keep it
  ``resolved``.
* The owner is never removed. Reopening returns the case to ``assigned`` (``acknowledged``/``new``
  only if it somehow has no owner) and ``CaseReopened.suggested_owner_id`` names the owner at the
  time of reopening: the previous owner stays the suggested owner.
* ``responsible_id`` changes only by ``TakeResponsibility`` (the actor) and ``Escalate``
  (``to_agent_id``); ``Assign`` changes the owner only. ``TakeResponsibility`` needs an agent actor.
* ``OpenCase`` is the customer's first inbound contact: ``inbound_contacts`` starts at 1. Its
  optional ``follow_up_of`` (an earlier case, not checked: it may be on another partition) and
  ``suggested_owner_id`` are kept as given; a later reopening replaces the suggested owner.
  First-contact resolution = resolved or closed, exactly one inbound contact, never reopened,
  never escalated.
* Reopening clears ``resolved_at``/``closed_at`` (``first_resolved_at`` stays), the follow-up
  state and a scheduled follow-up: the next resolution needs a new follow-up.
* At most one callback is pending; ``ScheduleCallback`` replaces it. ``CompleteCallback`` is
  accepted even with none pending (``CallbackCompleted.due_at`` is then null).
* Enum-valued state is compared with ``==`` so an aggregate restored from a JSON snapshot
  (where enums come back as plain strings) behaves identically.
* The customer was last updated by ``CaseAcknowledged``, ``CustomerUpdated``,
  ``CallbackCompleted`` and outbound ``ContactRecorded``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from supportes.aggregates.base import SupportAggregate, reject
from supportes.aggregates.case_status import SETTLED_FOLLOW_UPS, CaseStatus, FollowUpState
from supportes.aggregates.commands import (
    ApplyFix,
    Assign,
    Escalate,
    NoteSuggestion,
    OpenCase,
    ParsedCommand,
    TakeResponsibility,
)
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.personal import PERSONAL
from supportes.aggregates.reference import case_reference
from supportes.aggregates.values import (
    ActorKind,
    Channel,
    Direction,
    FixKind,
    FollowUpOutcome,
    Priority,
)


class Case(SupportAggregate):
    """A support case. Command handlers validate every rule before emitting any event."""

    aggregate_type = "Case"

    def __init__(self) -> None:
        super().__init__()
        self.customer_id: str = ""
        self.channel: Channel = Channel.EMAIL
        # No personal text in the state (subject, description, resolution): no rule reads it,
        # and the writer's cache of aggregates then holds none (it stays in the events).
        self.priority: Priority = Priority.NORMAL
        self.category: str | None = None
        self.product: str | None = None
        self.tags: list[str] = []
        self.reference: str = ""
        self.status: CaseStatus = CaseStatus.NEW
        self.owner_id: str | None = None
        self.responsible_id: str | None = None
        self.suggested_owner_id: str | None = None
        self.follow_up_of: UUID | None = None
        self.owners: list[str] = []
        self.escalations: int = 0
        self.inbound_contacts: int = 0
        self.outbound_contacts: int = 0
        self.reopen_count: int = 0
        self.acknowledged_at: datetime | None = None
        self.first_resolved_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.follow_up: FollowUpState = FollowUpState.NOT_DUE
        self.follow_up_due_at: datetime | None = None
        self.callback_due_at: datetime | None = None
        self.callback_agent_id: str | None = None
        self.csat_score: int | None = None
        self.csat_owner_id: str | None = None
        self.ratings: int = 0
        self.root_cause_id: UUID | None = None
        self.root_cause_links: list[UUID] = []
        """Every root cause linked and not undone, oldest first (the last is ``root_cause_id``)."""
        self.root_cause_waived: bool = False
        """A lead ruled out a root cause (``RootCauseWaived``); kept across reopenings."""
        self.last_customer_update_at: datetime | None = None
        self.fixes_applied: int = 0
        self.known_answers_given: list[str] = []
        self.suggestions: int = 0

    # --- derived facts -------------------------------------------------------------------

    @property
    def opened_at(self) -> datetime:
        """When the case was opened (the ``OpenCase`` issued_at)."""
        return self.created_on

    @property
    def distinct_owners(self) -> int:
        """How many different agents have owned the case."""
        return len(self.owners)

    @property
    def escalated(self) -> bool:
        """Whether the case was ever escalated."""
        return self.escalations > 0

    @property
    def first_contact_resolution(self) -> bool:
        """Resolved with one inbound contact, never reopened, never escalated."""
        return (
            self.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
            and self.inbound_contacts == 1
            and self.reopen_count == 0
            and not self.escalated
        )

    @property
    def follow_up_settled(self) -> bool:
        """Whether the follow-up allows closing (confirmed, no response, or waived)."""
        return self.follow_up in SETTLED_FOLLOW_UPS

    def derived_facts(self) -> dict[str, Any]:
        """Facts computed from state, for snapshots and projections."""
        return {
            "opened_at": self.opened_at,
            "distinct_owners": self.distinct_owners,
            "escalated": self.escalated,
            "first_contact_resolution": self.first_contact_resolution,
            "follow_up_settled": self.follow_up_settled,
        }

    # --- events --------------------------------------------------------------------------

    class Event(SupportAggregate.Event):
        """Base of case events."""

    class CaseOpened(Event, Aggregate.Created):
        """Schema v3 (v1 had no ``tags``; v2 no ``follow_up_of`` nor ``suggested_owner_id``)."""

        customer_id: str
        channel: Channel
        subject: Annotated[str, PERSONAL]
        description: Annotated[str, PERSONAL]
        priority: Priority
        category: str | None
        product: str | None
        tags: tuple[str, ...]
        reference: str
        follow_up_of: UUID | None
        suggested_owner_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.customer_id = self.customer_id
            aggregate.channel = self.channel
            aggregate.priority = self.priority
            aggregate.category = self.category
            aggregate.product = self.product
            aggregate.tags = list(self.tags)
            aggregate.reference = self.reference
            aggregate.follow_up_of = self.follow_up_of
            aggregate.suggested_owner_id = self.suggested_owner_id
            aggregate.inbound_contacts = 1

    class ContactRecorded(Event):
        direction: Direction
        channel: Channel
        summary: Annotated[str, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            if self.direction == Direction.INBOUND:
                aggregate.inbound_contacts += 1
            else:
                aggregate.outbound_contacts += 1
                aggregate.last_customer_update_at = self.timestamp

    class CaseReopened(Event):
        reason: Annotated[str, PERSONAL]
        suggested_owner_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.reopen_count += 1
            aggregate.suggested_owner_id = self.suggested_owner_id
            if aggregate.owner_id is not None:
                aggregate.status = CaseStatus.ASSIGNED
            elif aggregate.acknowledged_at is not None:
                aggregate.status = CaseStatus.ACKNOWLEDGED
            else:
                aggregate.status = CaseStatus.NEW
            aggregate.resolved_at = None
            aggregate.closed_at = None
            aggregate.follow_up = FollowUpState.NOT_DUE
            aggregate.follow_up_due_at = None

    class CaseAcknowledged(Event):
        reference: str
        channel: Channel
        message: Annotated[str | None, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.acknowledged_at = self.timestamp
            aggregate.last_customer_update_at = self.timestamp
            if aggregate.status == CaseStatus.NEW:
                aggregate.status = CaseStatus.ACKNOWLEDGED

    class CaseAssigned(Event):
        agent_id: str
        reason: Annotated[str | None, PERSONAL]
        previous_owner_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.set_owner(self.agent_id)

    class ResponsibilityTaken(Event):
        """``owner_id`` is the owner after the event (the agent if there was none)."""

        agent_id: str
        note: Annotated[str | None, PERSONAL]
        previous_responsible_id: str | None
        owner_id: str

        def apply(self, aggregate: Case) -> None:
            aggregate.responsible_id = self.agent_id
            aggregate.set_owner(self.owner_id)

    class CaseEscalated(Event):
        to_agent_id: str
        reason: Annotated[str, PERSONAL]
        authority: Annotated[str | None, PERSONAL]
        previous_owner_id: str | None
        previous_responsible_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.escalations += 1
            aggregate.responsible_id = self.to_agent_id
            aggregate.set_owner(self.to_agent_id)

    class CustomerUpdated(Event):
        channel: Channel
        message: Annotated[str, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.last_customer_update_at = self.timestamp

    class CallbackScheduled(Event):
        due_at: datetime
        agent_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.callback_due_at = self.due_at
            aggregate.callback_agent_id = self.agent_id

    class CallbackCompleted(Event):
        """``due_at`` is the due time of the callback completed (null if none was pending)."""

        outcome: Annotated[str, PERSONAL]
        due_at: datetime | None

        def apply(self, aggregate: Case) -> None:
            aggregate.callback_due_at = None
            aggregate.callback_agent_id = None
            aggregate.last_customer_update_at = self.timestamp

    class FixApplied(Event):
        kind: FixKind
        summary: Annotated[str, PERSONAL]
        known_answer_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.fixes_applied += 1
            if self.known_answer_id is not None:
                aggregate.known_answers_given.append(self.known_answer_id)

    class CaseResolved(Event):
        """``owner_id`` is the owner credited with the resolution."""

        resolution: Annotated[str, PERSONAL]
        owner_id: str

        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.RESOLVED
            aggregate.resolved_at = self.timestamp
            if aggregate.first_resolved_at is None:
                aggregate.first_resolved_at = self.timestamp
            aggregate.follow_up = FollowUpState.PENDING

    class RootCauseLinked(Event):
        root_cause_id: UUID
        previous_root_cause_id: UUID | None

        def apply(self, aggregate: Case) -> None:
            aggregate.root_cause_id = self.root_cause_id
            aggregate.root_cause_links.append(self.root_cause_id)

    class RootCauseLinkUndone(Event):
        """The link to ``root_cause_id`` undone (its ``AttachCase`` was refused);
        ``linked_root_cause_id`` is the case's root cause now: the latest link still standing."""

        root_cause_id: UUID
        linked_root_cause_id: UUID | None
        refusal: str
        attach_command_id: UUID

        def apply(self, aggregate: Case) -> None:
            aggregate.root_cause_links = [
                r for r in aggregate.root_cause_links if r != self.root_cause_id
            ]
            aggregate.root_cause_id = self.linked_root_cause_id

    class RootCauseWaived(Event):
        """A lead ruled out a root cause (``reason``: one-off, customer error, ...)."""

        reason: Annotated[str, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.root_cause_waived = True

    class FollowUpScheduled(Event):
        due_at: datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.follow_up_due_at = self.due_at

    class FollowUpRecorded(Event):
        outcome: FollowUpOutcome
        note: Annotated[str | None, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.follow_up_due_at = None
            if self.outcome == FollowUpOutcome.CONFIRMED:
                aggregate.follow_up = FollowUpState.CONFIRMED
            elif self.outcome == FollowUpOutcome.NO_RESPONSE:
                aggregate.follow_up = FollowUpState.NO_RESPONSE
            # not_resolved: followed by CaseReopened in the same decision.

    class FollowUpWaived(Event):
        reason: Annotated[str, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.follow_up = FollowUpState.WAIVED
            aggregate.follow_up_due_at = None

    class SatisfactionRated(Event):
        """``owner_id`` is the owner credited with the score (owner at rating time)."""

        score: int
        comment: Annotated[str | None, PERSONAL]
        owner_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.csat_score = self.score
            aggregate.csat_owner_id = self.owner_id
            aggregate.ratings += 1

    class CaseClosed(Event):
        def apply(self, aggregate: Case) -> None:
            aggregate.status = CaseStatus.CLOSED
            aggregate.closed_at = self.timestamp

    class SuggestionNoted(Event):
        suggestion: Annotated[str, PERSONAL]

        def apply(self, aggregate: Case) -> None:
            aggregate.suggestions += 1

    # --- state helpers -------------------------------------------------------------------

    def set_owner(self, agent_id: str) -> None:
        """Make ``agent_id`` the owner (used by event ``apply`` methods only)."""
        self.owner_id = agent_id
        if agent_id not in self.owners:
            self.owners.append(agent_id)
        if self.status in (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED):
            self.status = CaseStatus.ASSIGNED

    def require_not_closed(self) -> None:
        if self.status == CaseStatus.CLOSED:
            raise reject(ErrorCode.CASE_CLOSED, "the case is closed; only Reopen and ratings")

    def require_resolved(self, *, or_closed: bool) -> None:
        allowed = (CaseStatus.RESOLVED, CaseStatus.CLOSED) if or_closed else (CaseStatus.RESOLVED,)
        if self.status not in allowed:
            raise reject(ErrorCode.NOT_RESOLVED, f"the case is {self.status.value}, not resolved")

    def reopen_with(self, command: ParsedCommand[Any], reason: str) -> None:
        self._emit(Case.CaseReopened, command, reason=reason, suggested_owner_id=self.owner_id)

    # --- command handlers ----------------------------------------------------------------

    @classmethod
    def open(cls, command: ParsedCommand[OpenCase]) -> Case:
        """``OpenCase`` -> ``CaseOpened``."""
        p = command.payload
        return cls._create(
            cls.CaseOpened,
            id=command.aggregate_id,
            timestamp=command.issued_at,
            customer_id=p.customer_id,
            channel=p.channel,
            subject=p.subject,
            description=p.description,
            priority=p.priority or Priority.NORMAL,
            category=p.category,
            product=p.product,
            tags=tuple(p.tags or ()),
            reference=case_reference(command.aggregate_id),
            follow_up_of=p.follow_up_of,
            suggested_owner_id=p.suggested_owner_id,
        )

    def assign(self, command: ParsedCommand[Assign]) -> None:
        """``CaseAssigned``: the agent becomes the owner."""
        self.require_not_closed()
        p = command.payload
        self._emit(
            Case.CaseAssigned,
            command,
            agent_id=p.agent_id,
            reason=p.reason,
            previous_owner_id=self.owner_id,
        )

    def take_responsibility(self, command: ParsedCommand[TakeResponsibility]) -> None:
        """``ResponsibilityTaken``: the (agent) actor becomes responsible, and owner if none."""
        self.require_not_closed()
        if command.actor.kind != ActorKind.AGENT:
            raise reject(
                ErrorCode.INVALID, "actor.kind: only an agent can take responsibility", "actor.kind"
            )
        self._emit(
            Case.ResponsibilityTaken,
            command,
            agent_id=command.actor.id,
            note=command.payload.note,
            previous_responsible_id=self.responsible_id,
            owner_id=self.owner_id or command.actor.id,
        )

    def escalate(self, command: ParsedCommand[Escalate]) -> None:
        """``CaseEscalated``: ownership and responsibility pass to ``to_agent_id``."""
        self.require_not_closed()
        p = command.payload
        self._emit(
            Case.CaseEscalated,
            command,
            to_agent_id=p.to_agent_id,
            reason=p.reason,
            authority=p.authority,
            previous_owner_id=self.owner_id,
            previous_responsible_id=self.responsible_id,
        )

    def apply_fix(self, command: ParsedCommand[ApplyFix]) -> None:
        """``FixApplied`` (a ``known_answer_id`` counts as a known answer given again)."""
        self.require_not_closed()
        p = command.payload
        self._emit(
            Case.FixApplied,
            command,
            kind=p.kind,
            summary=p.summary,
            known_answer_id=p.known_answer_id,
        )

    def note_suggestion(self, command: ParsedCommand[NoteSuggestion]) -> None:
        """``SuggestionNoted``."""
        self.require_not_closed()
        self._emit(Case.SuggestionNoted, command, suggestion=command.payload.suggestion)
