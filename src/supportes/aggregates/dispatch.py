"""Deciding commands: the API the writer calls, and rebuilding aggregates from envelopes.

One table, :data:`ROUTES`, maps each command type to its aggregate class and handler; adding a
command is one payload model (:mod:`~supportes.aggregates.commands`), one handler (a method, or
a function of :mod:`~supportes.aggregates.case_contact` or
:mod:`~supportes.aggregates.case_aftercare`) and one line here. Cross-aggregate effects are
follow-on commands derived from events by
:data:`POLICIES` (``RootCauseLinked`` -> ``AttachCase``); a rejected follow-on is compensated by
:data:`COMPENSATIONS` (a refused ``AttachCase`` -> ``UndoRootCauseLink`` on the case).

Order of checks in :func:`decide`: unknown type (``unknown_command``); create command on an
existing id (``already_exists`` - also when the id belongs to another aggregate type, and for a
second ``EraseSubject`` of a customer); other
command on no aggregate, or on the wrong aggregate type (``not_found``: there is no such
``RootCause`` for ``VerifyFix`` on a case id); ``expected_version`` (``version_conflict``, 0 means
"does not exist yet"); then the aggregate's own rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast
from uuid import UUID, uuid5

from supportes.aggregates import case_aftercare, case_contact
from supportes.aggregates.base import SupportAggregate
from supportes.aggregates.case import Case
from supportes.aggregates.commands import (
    COMMAND_PAYLOADS,
    AnyCommand,
    AttachCase,
    ParsedCommand,
    command_envelope,
)
from supportes.aggregates.data_subject import DataSubject
from supportes.aggregates.errors import EnvelopeError, ErrorCode, Rejection
from supportes.aggregates.root_cause import RootCause
from supportes.aggregates.values import SYSTEM_ACTOR, jsonable
from supportes.aggregates.wire import BY_CLASS, AggregateClass, from_envelope, to_envelope

AnyAggregate = Case | RootCause | DataSubject


@dataclass(frozen=True)
class Route:
    """Where a command type goes: the aggregate class, its handler, and whether it creates.

    A creating handler is ``(command) -> aggregate``; any other is ``(aggregate, command) -> None``
    and emits events on the aggregate (or raises :class:`Rejection` before emitting any).
    """

    aggregate_class: AggregateClass
    handler: Callable[..., Any]
    creates: bool = False


ROUTES: Final[dict[str, Route]] = {
    "OpenCase": Route(Case, Case.open, creates=True),
    "RecordContact": Route(Case, case_contact.record_contact),
    "Acknowledge": Route(Case, case_contact.acknowledge),
    "Assign": Route(Case, Case.assign),
    "TakeResponsibility": Route(Case, Case.take_responsibility),
    "Escalate": Route(Case, Case.escalate),
    "UpdateCustomer": Route(Case, case_contact.update_customer),
    "ScheduleCallback": Route(Case, case_contact.schedule_callback),
    "CompleteCallback": Route(Case, case_contact.complete_callback),
    "ApplyFix": Route(Case, Case.apply_fix),
    "Resolve": Route(Case, case_aftercare.resolve),
    "LinkRootCause": Route(Case, case_aftercare.link_root_cause),
    "UndoRootCauseLink": Route(Case, case_aftercare.undo_root_cause_link),
    "ScheduleFollowUp": Route(Case, case_aftercare.schedule_follow_up),
    "RecordFollowUp": Route(Case, case_aftercare.record_follow_up),
    "WaiveFollowUp": Route(Case, case_aftercare.waive_follow_up),
    "WaiveRootCause": Route(Case, case_aftercare.waive_root_cause),
    "RateSatisfaction": Route(Case, case_aftercare.rate_satisfaction),
    "Reopen": Route(Case, case_aftercare.reopen),
    "Close": Route(Case, case_aftercare.close),
    "NoteSuggestion": Route(Case, Case.note_suggestion),
    "IdentifyRootCause": Route(RootCause, RootCause.identify, creates=True),
    "AttachCase": Route(RootCause, RootCause.attach_case),
    "PlanPreventiveAction": Route(RootCause, RootCause.plan_preventive_action),
    "CompletePreventiveAction": Route(RootCause, RootCause.complete_preventive_action),
    "VerifyFix": Route(RootCause, RootCause.verify_fix),
    "ReopenRootCause": Route(RootCause, RootCause.reopen),
    "EraseSubject": Route(DataSubject, DataSubject.erase, creates=True),
}
if set(ROUTES) != set(COMMAND_PAYLOADS):  # pragma: no cover - a programming error
    raise RuntimeError(f"routes and payload models differ: {set(ROUTES) ^ set(COMMAND_PAYLOADS)}")


@dataclass(frozen=True)
class FollowOn:
    """A command that must follow from an event (built into an envelope by :func:`decide`)."""

    type: str
    aggregate_id: UUID
    payload: dict[str, Any]


def _attach_case(event: SupportAggregate.Event) -> list[FollowOn]:
    linked = cast(Case.RootCauseLinked, event)
    return [FollowOn("AttachCase", linked.root_cause_id, {"case_id": str(linked.originator_id)})]


POLICIES: Final[dict[type[SupportAggregate.Event], Callable[[Any], list[FollowOn]]]] = {
    Case.RootCauseLinked: _attach_case,
}
"""Event class -> follow-on commands it causes."""


def _undo_link(command: AnyCommand, rejection: Rejection) -> list[FollowOn]:
    attach = cast(ParsedCommand[AttachCase], command)
    payload = {
        "root_cause_id": attach.aggregate_id_text,
        "refusal": rejection.code.value,
        "attach_command_id": attach.command_id_text,
    }
    return [FollowOn("UndoRootCauseLink", attach.payload.case_id, payload)]


COMPENSATIONS: Final[dict[str, Callable[[AnyCommand, Rejection], list[FollowOn]]]] = {
    "AttachCase": _undo_link,
}
"""Follow-on command type -> the commands that undo its cause when it is rejected (the case
stays linked to a root cause that refused it otherwise)."""


@dataclass(frozen=True)
class Decision:
    """What an accepted command produces.

    ``events`` are sealed wire envelopes, versions ``current + 1 ..``, chained from
    ``last_hash``. ``follow_on_commands`` are command envelopes with a deterministic
    ``command_id`` (uuid5 of the source command id), the source ``issued_at`` and
    ``correlation_id``, and the system actor. ``aggregate`` is a new object (the caller's
    ``current`` is never mutated) with ``last_hash`` set to the last event's hash.
    """

    aggregate_id: UUID
    aggregate_type: str
    events: list[dict[str, Any]]
    follow_on_commands: list[dict[str, Any]]
    aggregate: AnyAggregate


def checked_route(command: AnyCommand, current: AnyAggregate | None) -> Route:
    """The route of ``command`` once the checks before the aggregate's own rules pass, in
    order: a known type with its payload, not already existing (a creating command), found
    and of the right type, the expected version. Raises :class:`Rejection`."""
    route = ROUTES.get(command.type)
    if route is None or not isinstance(command.payload, COMMAND_PAYLOADS[command.type]):
        raise Rejection(ErrorCode.UNKNOWN_COMMAND, f"unknown command type {command.type!r}", "type")
    kind = route.aggregate_class.aggregate_type
    if current is not None and current.id != command.aggregate_id:
        raise ValueError(f"aggregate {current.id} given for a command on {command.aggregate_id}")
    if route.creates and current is not None:
        raise Rejection(
            ErrorCode.ALREADY_EXISTS,
            f"{current.aggregate_type} {command.aggregate_id} already exists",
            "aggregate_id",
        )
    if not route.creates and not isinstance(current, route.aggregate_class):
        raise Rejection(ErrorCode.NOT_FOUND, f"no {kind} {command.aggregate_id}", "aggregate_id")
    version = 0 if current is None else current.version
    if command.expected_version is not None and command.expected_version != version:
        raise Rejection(
            ErrorCode.VERSION_CONFLICT,
            f"expected version {command.expected_version}, but the {kind} is at {version}",
            "expected_version",
        )
    return route


def decide(
    command: AnyCommand,
    current: AnyAggregate | None,
    *,
    last_hash: str | None,
    audit_key: bytes | None = None,
) -> Decision:
    """Decide ``command`` against ``current`` (``None`` if the id has no events).

    ``last_hash`` is the hash of ``current``'s last event (``None`` for a new aggregate).
    Pure and deterministic: the same inputs give byte-identical envelopes. Raises
    :class:`Rejection`; a rejection changes nothing.
    """
    route = checked_route(command, current)
    kind = route.aggregate_class.aggregate_type
    aggregate: AnyAggregate
    if current is None:
        aggregate = cast(AnyAggregate, route.handler(command))
    else:
        aggregate = current.clone()
        route.handler(aggregate, command)

    events = cast(list[SupportAggregate.Event], aggregate.collect_events())
    envelopes: list[dict[str, Any]] = []
    prev = last_hash
    follow_ons: list[dict[str, Any]] = []
    for event in events:
        envelope = to_envelope(event, command, prev_hash=prev, audit_key=audit_key)
        envelopes.append(envelope)
        prev = envelope["hash"]
        for n, follow_on in enumerate(_follow_ons(event)):
            name = f"follow-on:{event.originator_version}:{n}:{follow_on.type}"
            follow_ons.append(_follow_on_envelope(command, follow_on, name))
    aggregate.last_hash = prev
    return Decision(command.aggregate_id, kind, envelopes, follow_ons, aggregate)


def compensations(command: AnyCommand, rejection: Rejection) -> list[dict[str, Any]]:
    """The commands that undo the cause of a rejected follow-on ``command`` (one written by the
    system actor, by :data:`COMPENSATIONS`), as envelopes with deterministic ids; none for any
    other command. Pure: the same rejection gives the same envelopes."""
    compensate = COMPENSATIONS.get(command.type)
    if compensate is None or command.actor != SYSTEM_ACTOR:
        return []
    return [
        _follow_on_envelope(command, follow_on, f"compensation:{n}:{follow_on.type}")
        for n, follow_on in enumerate(compensate(command, rejection))
    ]


def _follow_on_envelope(source: AnyCommand, follow_on: FollowOn, name: str) -> dict[str, Any]:
    """``follow_on`` as a command envelope: its id uuid5 of ``source``'s and ``name``, the
    source's ``issued_at`` and correlation id, the system actor."""
    return command_envelope(
        command_id=uuid5(source.command_id, name),
        type=follow_on.type,
        aggregate_id=follow_on.aggregate_id,
        issued_at=source.issued_at,
        actor=SYSTEM_ACTOR,
        correlation_id=source.correlation_id,
        payload=follow_on.payload,
    )


def _follow_ons(event: SupportAggregate.Event) -> list[FollowOn]:
    policy = POLICIES.get(type(event))
    return policy(event) if policy else []


def apply_envelope(aggregate: AnyAggregate | None, envelope: Mapping[str, Any]) -> AnyAggregate:
    """Apply one stored envelope (upcast as needed) to ``aggregate`` in place (or create it).

    Raises :class:`EnvelopeError` when the event does not follow (other aggregate, wrong
    version, wrong type). Used by :func:`rebuild` and by projections folding events one by one.
    """
    event = from_envelope(envelope)
    if aggregate is not None and event.originator_id != aggregate.id:
        raise EnvelopeError(f"event of {event.originator_id} applied to {aggregate.id}")
    owner = BY_CLASS[type(event)].aggregate_class
    if aggregate is not None and not isinstance(aggregate, owner):
        raise EnvelopeError(f"{envelope.get('type')} is not an event of {aggregate.aggregate_type}")
    expected = 1 if aggregate is None else aggregate.version + 1
    if event.originator_version != expected:
        raise EnvelopeError(f"version {event.originator_version} where {expected} was expected")
    try:
        result = event.mutate(aggregate)
    except (AssertionError, TypeError, AttributeError, KeyError) as exc:
        raise EnvelopeError(f"{envelope.get('type')} cannot apply here: {exc!r}") from exc
    assert isinstance(result, Case | RootCause | DataSubject)
    result.last_hash = cast(str | None, envelope.get("hash"))
    return result


def rebuild(
    envelopes: Iterable[Mapping[str, Any]], *, onto: AnyAggregate | None = None
) -> AnyAggregate | None:
    """The aggregate described by ``envelopes`` (in version order), or ``None`` if empty.

    Pure. ``onto`` continues from an aggregate already at an earlier version (a cached one or
    a snapshot); it is copied, not mutated. Hashes are not verified here (see
    :func:`~supportes.aggregates.hashchain.verify_chain`); ``last_hash`` is set from the
    last envelope.
    """
    aggregate = None if onto is None else onto.clone()
    for envelope in envelopes:
        aggregate = apply_envelope(aggregate, envelope)
    return aggregate


def last_hash_of(aggregate: AnyAggregate | None) -> str | None:
    """The hash of the aggregate's last event (what :func:`decide` needs as ``last_hash``)."""
    return None if aggregate is None else aggregate.last_hash


def state_of(aggregate: AnyAggregate) -> dict[str, Any]:
    """A JSON-ready snapshot of the domain state and derived facts (``last_hash`` excluded).

    Two aggregates with equal ``state_of`` behave identically for every future command.
    """
    state: dict[str, Any] = {
        "aggregate_type": aggregate.aggregate_type,
        "id": aggregate.id,
        "version": aggregate.version,
        "created_on": aggregate.created_on,
        "modified_on": aggregate.modified_on,
    }
    for name, value in vars(aggregate).items():
        if not name.startswith("_") and name != "last_hash":
            state[name] = value
    state.update(aggregate.derived_facts())
    return cast(dict[str, Any], jsonable(state))


def accepted_result(command: AnyCommand, decision: Decision) -> dict[str, Any]:
    """The result envelope (design section 3) of an accepted command."""
    return {
        "command_id": command.command_id_text,
        "status": "accepted",
        "aggregate_id": command.aggregate_id_text,
        "version": decision.aggregate.version,
        "events": [
            {"event_id": e["event_id"], "type": e["type"], "version": e["version"]}
            for e in decision.events
        ],
        "error": None,
    }


def rejected_result(
    command_id: UUID | str | None,
    aggregate_id: UUID | str | None,
    version: int | None,
    rejection: Rejection,
) -> dict[str, Any]:
    """The result envelope of a rejected command (``version``: the aggregate's, if known)."""
    return {
        "command_id": None if command_id is None else str(command_id),
        "status": "rejected",
        "aggregate_id": None if aggregate_id is None else str(aggregate_id),
        "version": version,
        "events": [],
        "error": rejection.as_error(),
    }


__all__ = [
    "POLICIES",
    "ROUTES",
    "AnyAggregate",
    "Decision",
    "FollowOn",
    "Route",
    "accepted_result",
    "apply_envelope",
    "decide",
    "last_hash_of",
    "rebuild",
    "rejected_result",
    "state_of",
]
