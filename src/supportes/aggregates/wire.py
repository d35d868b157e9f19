"""Event envelopes on the wire (design section 3) and the registry of stable event names.

The wire ``type`` is a stable name registered explicitly in :data:`EVENT_TYPES`, never derived
from a Python path, with the current ``schema_version`` of its payload. Payloads are encoded
from the event dataclass fields (UUID -> string, datetime -> RFC 3339 ``Z``, enum -> value,
tuple -> list) and decoded strictly by the same field types (unknown or missing keys refused).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from hashlib import sha1
from typing import Any, Union, cast
from uuid import UUID, uuid5

from eventsourcing.domain import CanInitAggregate
from eventsourcing.utils import get_topic

from supportes.aggregates.base import SupportAggregate
from supportes.aggregates.case import Case
from supportes.aggregates.commands import CommandPayload, ParsedCommand
from supportes.aggregates.data_subject import DataSubject
from supportes.aggregates.errors import EnvelopeError
from supportes.aggregates.hashchain import seal
from supportes.aggregates.personal import is_sealed, personal_fields, sealed_shape_problem
from supportes.aggregates.root_cause import RootCause
from supportes.aggregates.upcasting import upcast
from supportes.aggregates.values import jsonable, parse_rfc3339

ENVELOPE_KEYS = (
    "event_id",
    "type",
    "schema_version",
    "aggregate_type",
    "aggregate_id",
    "version",
    "occurred_at",
    "actor",
    "command_id",
    "correlation_id",
    "payload",
    "prev_hash",
    "hash",
)
"""The keys every event envelope has, in the order they are written."""
OPTIONAL_KEYS = ("via",)
"""Keys an envelope has only when they hold something: ``via`` (an integration acting for the
actor, copied from the command) is omitted when there is none, so events without it keep the
exact bytes and hashes they always had. Covered by the hash like every other key."""
_ENVELOPE_KEY_SET = frozenset(ENVELOPE_KEYS)
_BASE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


AggregateClass = type[Case] | type[RootCause] | type[DataSubject]
"""One of the aggregate classes."""


@dataclass(frozen=True)
class EventType:
    """One registered event: stable wire name, class, owning aggregate, current schema."""

    name: str
    event_class: type[SupportAggregate.Event]
    aggregate_class: AggregateClass
    schema_version: int = 1


EVENT_TYPES: tuple[EventType, ...] = (
    EventType("CaseOpened", Case.CaseOpened, Case, schema_version=3),
    EventType("ContactRecorded", Case.ContactRecorded, Case),
    EventType("CaseReopened", Case.CaseReopened, Case),
    EventType("CaseAcknowledged", Case.CaseAcknowledged, Case),
    EventType("CaseAssigned", Case.CaseAssigned, Case),
    EventType("ResponsibilityTaken", Case.ResponsibilityTaken, Case),
    EventType("CaseEscalated", Case.CaseEscalated, Case),
    EventType("CustomerUpdated", Case.CustomerUpdated, Case),
    EventType("CallbackScheduled", Case.CallbackScheduled, Case),
    EventType("CallbackCompleted", Case.CallbackCompleted, Case),
    EventType("FixApplied", Case.FixApplied, Case),
    EventType("CaseResolved", Case.CaseResolved, Case),
    EventType("RootCauseLinked", Case.RootCauseLinked, Case),
    EventType("RootCauseLinkUndone", Case.RootCauseLinkUndone, Case),
    EventType("FollowUpScheduled", Case.FollowUpScheduled, Case),
    EventType("FollowUpRecorded", Case.FollowUpRecorded, Case),
    EventType("FollowUpWaived", Case.FollowUpWaived, Case),
    EventType("RootCauseWaived", Case.RootCauseWaived, Case),
    EventType("SatisfactionRated", Case.SatisfactionRated, Case),
    EventType("CaseClosed", Case.CaseClosed, Case),
    EventType("SuggestionNoted", Case.SuggestionNoted, Case),
    EventType("RootCauseIdentified", RootCause.RootCauseIdentified, RootCause),
    EventType("CaseAttached", RootCause.CaseAttached, RootCause),
    EventType("RootCauseReopened", RootCause.RootCauseReopened, RootCause),
    EventType("PreventiveActionPlanned", RootCause.PreventiveActionPlanned, RootCause),
    EventType("PreventiveActionCompleted", RootCause.PreventiveActionCompleted, RootCause),
    EventType("FixVerified", RootCause.FixVerified, RootCause),
    EventType("SubjectErased", DataSubject.SubjectErased, DataSubject),
)
BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES}
BY_CLASS: dict[type[SupportAggregate.Event], EventType] = {t.event_class: t for t in EVENT_TYPES}
AGGREGATE_CLASSES: dict[str, AggregateClass] = {
    Case.aggregate_type: Case,
    RootCause.aggregate_type: RootCause,
    DataSubject.aggregate_type: DataSubject,
}


def wire_name(event: SupportAggregate.Event) -> str:
    """The stable wire ``type`` of a domain event."""
    return BY_CLASS[type(event)].name


def event_id_for(command_id: UUID, aggregate_id: UUID | str, version: int) -> UUID:
    """Deterministic event id: the same command deciding the same version gives the same id
    (``aggregate_id`` as a UUID or its canonical string: the same name either way)."""
    return uuid5(command_id, f"{aggregate_id}:{version}")


def event_id_text(command_id: UUID, aggregate_id: UUID | str, version: int) -> str:
    """``str(event_id_for(...))`` without building a UUID object on the way (the writer's hot
    path): RFC 4122 name-based SHA-1, version 5, variant bits set, as in :func:`uuid.uuid5`."""
    digest = bytearray(sha1(command_id.bytes + f"{aggregate_id}:{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@cache
def _payload_fields(event_class: type[SupportAggregate.Event]) -> dict[str, Any]:
    hints = typing.get_type_hints(event_class)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cast(Any, event_class))
        if f.name not in _BASE_FIELDS
    }


def encode_payload(event: SupportAggregate.Event) -> dict[str, Any]:
    """The JSON payload of a domain event."""
    return {name: jsonable(getattr(event, name)) for name in _payload_fields(type(event))}


def to_envelope(
    event: SupportAggregate.Event,
    command: ParsedCommand[CommandPayload],
    *,
    prev_hash: str | None,
    audit_key: bytes | None = None,
) -> dict[str, Any]:
    """The sealed (hashed) wire envelope of an event decided from ``command``."""
    registered = BY_CLASS[type(event)]
    aggregate_id = (
        command.aggregate_id_text
        if event.originator_id == command.aggregate_id
        else str(event.originator_id)
    )
    envelope: dict[str, Any] = {
        "event_id": event_id_text(command.command_id, aggregate_id, event.originator_version),
        "type": registered.name,
        "schema_version": registered.schema_version,
        "aggregate_type": registered.aggregate_class.aggregate_type,
        "aggregate_id": aggregate_id,
        "version": event.originator_version,
        "occurred_at": jsonable(event.timestamp),
        "actor": command.actor.as_dict(),
        "command_id": command.command_id_text,
        "correlation_id": command.correlation_id_text,
        "payload": encode_payload(event),
        "prev_hash": prev_hash,
    }
    if command.via is not None:
        envelope["via"] = command.via.as_dict()
    return seal(envelope, audit_key)


def current_envelope(envelope: Any) -> tuple[EventType, dict[str, Any]]:
    """Check a stored envelope's shape and type; return its registration and the envelope
    upcast to the current schema version. Raises :class:`EnvelopeError`."""
    if type(envelope) is not dict and not isinstance(envelope, Mapping):
        raise EnvelopeError("an event envelope must be a JSON object")
    if not _ENVELOPE_KEY_SET.issubset(envelope.keys()):
        missing = [k for k in ENVELOPE_KEYS if k not in envelope]
        raise EnvelopeError(f"envelope lacks {', '.join(missing)}")
    registered = BY_NAME.get(str(envelope["type"]))
    if registered is None:
        raise EnvelopeError(f"unknown event type {envelope['type']!r}")
    if envelope["aggregate_type"] != registered.aggregate_class.aggregate_type:
        raise EnvelopeError(
            f"{registered.name} belongs to {registered.aggregate_class.aggregate_type}, "
            f"not {envelope['aggregate_type']!r}"
        )
    if "via" in envelope:
        _check_via(envelope["via"])
    return registered, upcast(envelope, registered.schema_version)


def _check_via(via: Any) -> None:
    if via is None:
        return
    if (
        not isinstance(via, Mapping)
        or set(via) != {"id", "kind"}
        or not isinstance(via["id"], str)
        or via["kind"] != "integration"
    ):
        raise EnvelopeError(f"via must be {{'id': ..., 'kind': 'integration'}} or absent: {via!r}")


def from_envelope(envelope: Mapping[str, Any]) -> SupportAggregate.Event:
    """Decode a stored envelope (upcasting old schema versions) into a domain event."""
    registered, current = current_envelope(envelope)
    fields = _payload_fields(registered.event_class)
    payload = current["payload"]
    unknown = sorted(set(payload) - set(fields))
    absent = sorted(set(fields) - set(payload))
    if unknown or absent:
        raise EnvelopeError(f"{registered.name} payload: unknown {unknown}, missing {absent}")
    personal = personal_fields(registered.event_class)
    kwargs = {
        name: _personal(payload[name], f"payload.{name}")
        if name in personal and is_sealed(payload[name])
        else _decode(payload[name], hint, f"payload.{name}")
        for name, hint in fields.items()
    }
    version = envelope["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EnvelopeError(f"bad version {version!r}")
    kwargs["originator_id"] = _decode(envelope["aggregate_id"], UUID, "aggregate_id")
    kwargs["originator_version"] = version
    kwargs["timestamp"] = _decode(envelope["occurred_at"], datetime, "occurred_at")
    if issubclass(registered.event_class, CanInitAggregate):
        kwargs["originator_topic"] = get_topic(registered.aggregate_class)
    return cast(SupportAggregate.Event, cast(Any, registered.event_class)(**kwargs))


def _personal(sealed: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A sealed personal field, kept as it is (the domain never opens one)."""
    problem = sealed_shape_problem(sealed)
    if problem is not None:
        raise EnvelopeError(f"{where}: {problem}")
    return dict(sealed)


def _decode(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        if len(options) != 1:
            raise EnvelopeError(f"{where}: unsupported type {hint!r}")
        return _decode(value, options[0], where)
    if origin is tuple:
        if not isinstance(value, list):
            raise EnvelopeError(f"{where}: expected a list")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_decode(v, item, f"{where}[]") for v in value)
    try:
        if hint is UUID and isinstance(value, str):
            return UUID(value)
        if hint is datetime and isinstance(value, str):
            return parse_rfc3339(value)
        if isinstance(hint, type) and issubclass(hint, Enum):
            return hint(value)
    except ValueError as exc:
        raise EnvelopeError(f"{where}: {exc}") from None
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise EnvelopeError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
