"""Command envelopes and payloads (design sections 3 and 4) and their validation.

Every command type is one pydantic model named exactly like the wire ``type``; defining the
model registers it. :func:`parse_command` turns a raw JSON object into a :class:`ParsedCommand`
or raises :class:`~supportes.aggregates.errors.Rejection` (``invalid`` naming the first failing
field as a dotted path, or ``unknown_command``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from supportes.aggregates.errors import ErrorCode, Rejection
from supportes.aggregates.personal import PERSONAL, is_sealed, personal_fields, sealed_shape_problem
from supportes.aggregates.storable import describe, first_unstorable
from supportes.aggregates.values import (
    MAX_ID,
    Actor,
    Channel,
    Direction,
    Fingerprint,
    FixKind,
    FollowUpOutcome,
    Id,
    PreventiveActionKind,
    Priority,
    ShortText,
    Text,
    Via,
    not_blank,
    rfc3339,
)

MAX_TAGS = 50
MAX_KEY_FINGERPRINTS = 100


def _timestamp(value: object) -> datetime:
    """Accept an RFC 3339 string (or an aware datetime); reject numbers and naive times."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "datetime_format", "must be an RFC 3339 date-time, e.g. 2026-11-22T10:00:00Z"
            ) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise PydanticCustomError(
            "datetime_type", "must be an RFC 3339 date-time string, e.g. 2026-11-22T10:00:00Z"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PydanticCustomError("timezone_aware", "must include a timezone offset (e.g. Z)")
    return moment.astimezone(UTC)


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
"""A timezone-aware instant, normalised to UTC."""
Score = Annotated[StrictInt, Field(ge=1, le=5)]
"""A satisfaction score: an integer from 1 to 5 (booleans, floats and strings are refused)."""
Tag = Annotated[StrictStr, Field(max_length=100), AfterValidator(not_blank)]


class CommandPayload(BaseModel):
    """Base of all command payloads: frozen, unknown fields forbidden.

    ``FUTURE_FIELDS`` names timestamp fields that must lie after the command's ``issued_at``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    FUTURE_FIELDS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        COMMAND_PAYLOADS[cls.__name__] = cls


COMMAND_PAYLOADS: dict[str, type[CommandPayload]] = {}
"""Command ``type`` (wire name) -> payload model; filled by defining payload models."""


# --- Case commands -------------------------------------------------------------------------


class OpenCase(CommandPayload):
    """Open a case from a customer's first contact (that contact is its first inbound one).

    ``follow_up_of``: the customer's earlier (closed) case this one follows up; channel intake
    sets it with the owner of that case as ``suggested_owner_id``.
    """

    customer_id: Id
    channel: Channel
    subject: Annotated[ShortText, PERSONAL]
    description: Annotated[Text, PERSONAL]
    priority: Priority | None = None
    category: Id | None = None
    product: Id | None = None
    tags: Annotated[tuple[Tag, ...], Field(max_length=MAX_TAGS)] | None = None
    follow_up_of: UUID | None = None
    suggested_owner_id: Id | None = None


class RecordContact(CommandPayload):
    """Record a contact with the customer."""

    direction: Direction
    channel: Channel
    summary: Annotated[Text, PERSONAL]


class Acknowledge(CommandPayload):
    """Acknowledge the case to the customer, giving its reference."""

    channel: Channel | None = None
    message: Annotated[Text | None, PERSONAL] = None


class Assign(CommandPayload):
    """Make an agent the case owner."""

    agent_id: Id
    reason: Annotated[ShortText | None, PERSONAL] = None


class TakeResponsibility(CommandPayload):
    """The issuing agent takes responsibility (and ownership if the case has no owner)."""

    note: Annotated[Text | None, PERSONAL] = None


class Escalate(CommandPayload):
    """Pass the case, with ownership and responsibility, to someone with more authority."""

    to_agent_id: Id
    reason: Annotated[Text, PERSONAL]
    authority: Annotated[ShortText | None, PERSONAL] = None


class UpdateCustomer(CommandPayload):
    """Tell the customer where things stand."""

    channel: Channel
    message: Annotated[Text, PERSONAL]


class ScheduleCallback(CommandPayload):
    """Promise to call the customer back (replaces a pending callback)."""

    FUTURE_FIELDS: ClassVar[tuple[str, ...]] = ("due_at",)

    due_at: Timestamp
    agent_id: Id | None = None


class CompleteCallback(CommandPayload):
    """Record that the promised callback happened."""

    outcome: Annotated[Text, PERSONAL]


class ApplyFix(CommandPayload):
    """Record the quick fix given to the customer."""

    kind: FixKind
    summary: Annotated[Text, PERSONAL]
    known_answer_id: Id | None = None


class Resolve(CommandPayload):
    """Resolve the case."""

    resolution: Annotated[Text, PERSONAL]


class LinkRootCause(CommandPayload):
    """Link the case to a root cause (the root cause is told by a follow-on ``AttachCase``)."""

    root_cause_id: UUID


class UndoRootCauseLink(CommandPayload):
    """Undo the case's link to a root cause that refused the case: the compensation the writer
    sends when a follow-on ``AttachCase`` is rejected (design section 2: cross-aggregate
    effects). No principal may write it (:data:`~supportes.auth.policy.SYSTEM_COMMANDS`)."""

    root_cause_id: UUID
    refusal: Id
    """The ``AttachCase``'s rejection code (e.g. ``not_found``)."""
    attach_command_id: UUID
    """The rejected ``AttachCase``."""


class ScheduleFollowUp(CommandPayload):
    """Set when to follow up with the customer."""

    FUTURE_FIELDS: ClassVar[tuple[str, ...]] = ("due_at",)

    due_at: Timestamp


class RecordFollowUp(CommandPayload):
    """Record the follow-up after resolution."""

    outcome: FollowUpOutcome
    note: Annotated[Text | None, PERSONAL] = None


class WaiveFollowUp(CommandPayload):
    """Skip the follow-up, with a reason."""

    reason: Annotated[Text, PERSONAL]


class WaiveRootCause(CommandPayload):
    """A lead rules out a root cause for a resolved case (one-off, customer error, ...): the
    case no longer needs one ("fix everything twice": the second fix found unnecessary)."""

    reason: Annotated[Text, PERSONAL]


class RateSatisfaction(CommandPayload):
    """The customer's satisfaction score, credited to the owner at that moment."""

    score: Score
    comment: Annotated[Text | None, PERSONAL] = None


class Reopen(CommandPayload):
    """Reopen a resolved or closed case."""

    reason: Annotated[Text, PERSONAL]


class Close(CommandPayload):
    """Close a resolved case whose follow-up is settled."""


class NoteSuggestion(CommandPayload):
    """Note an improvement suggestion raised by the case."""

    suggestion: Annotated[Text, PERSONAL]


# --- Root-cause commands -------------------------------------------------------------------


class IdentifyRootCause(CommandPayload):
    """Identify a root cause behind one or more cases."""

    title: ShortText
    description: Text
    category: Id | None = None
    product: Id | None = None


class AttachCase(CommandPayload):
    """Attach a case to the root cause (normally a follow-on of ``LinkRootCause``)."""

    case_id: UUID


class PlanPreventiveAction(CommandPayload):
    """Plan a preventive action ("fix it twice")."""

    FUTURE_FIELDS: ClassVar[tuple[str, ...]] = ("due_at",)

    action_id: Id
    kind: PreventiveActionKind
    description: Text
    owner_id: Id
    due_at: Timestamp | None = None


class CompletePreventiveAction(CommandPayload):
    """Complete a planned preventive action, with evidence."""

    action_id: Id
    evidence: Text


class VerifyFix(CommandPayload):
    """Verify that the preventive actions fixed the root cause."""

    note: Text | None = None


class ReopenRootCause(CommandPayload):
    """Reopen a root cause (e.g. the fix did not hold)."""

    reason: Text


# --- Data-subject commands -----------------------------------------------------------------


class EraseSubject(CommandPayload):
    """Record that a customer's personal data was erased (design section 9): holds none itself.

    The command's ``aggregate_id`` must be
    :func:`~supportes.aggregates.data_subject.subject_aggregate_id` of ``customer_id``.
    ``key_fingerprints``: the one-way fingerprints of the customer's destroyed data keys (none
    when the customer never had one).
    """

    customer_id: Id
    key_fingerprints: Annotated[
        tuple[Fingerprint, ...], Field(max_length=MAX_KEY_FINGERPRINTS)
    ] = ()


# --- Envelope ------------------------------------------------------------------------------


class CommandEnvelope(BaseModel):
    """The command envelope of design section 3 (payload still raw)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: UUID
    type: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_ID)]
    aggregate_id: UUID
    expected_version: Annotated[StrictInt, Field(ge=0)] | None = None
    issued_at: Timestamp
    actor: Actor
    via: Via | None = None
    correlation_id: UUID | None = None
    payload: dict[str, Any] | None = None


P_co = TypeVar("P_co", bound=CommandPayload, covariant=True)


@dataclass(frozen=True)
class ParsedCommand(Generic[P_co]):
    """A validated command: envelope fields plus its typed payload.

    ``issued_at`` is UTC; ``correlation_id`` defaults to ``command_id``; ``via`` names the
    integration acting for ``actor`` (``None``: nobody).
    """

    command_id: UUID
    type: str
    aggregate_id: UUID
    expected_version: int | None
    issued_at: datetime
    actor: Actor
    correlation_id: UUID
    payload: P_co
    via: Via | None = None

    command_id_text: str = field(init=False, repr=False, compare=False)
    """``str(command_id)``, computed once (it goes into the result and every event)."""
    aggregate_id_text: str = field(init=False, repr=False, compare=False)
    """``str(aggregate_id)``, computed once."""
    correlation_id_text: str = field(init=False, repr=False, compare=False)
    """``str(correlation_id)``, computed once."""

    def __post_init__(self) -> None:
        # Plain attributes, not functools.cached_property: that takes a lock on every read
        # in Python 3.11, and these are read several times per command on the hot path.
        object.__setattr__(self, "command_id_text", str(self.command_id))
        object.__setattr__(self, "aggregate_id_text", str(self.aggregate_id))
        object.__setattr__(self, "correlation_id_text", str(self.correlation_id))

    def to_envelope(self) -> dict[str, Any]:
        """The command as a JSON-ready envelope (``parse_command`` reads it back)."""
        return command_envelope(
            command_id=self.command_id,
            type=self.type,
            aggregate_id=self.aggregate_id,
            expected_version=self.expected_version,
            issued_at=self.issued_at,
            actor=self.actor,
            correlation_id=self.correlation_id,
            payload=self.payload.model_dump(mode="json", exclude_none=True),
            via=self.via,
        )


AnyCommand = ParsedCommand[CommandPayload]
"""A parsed command of any type."""


def command_envelope(
    *,
    command_id: UUID,
    type: str,
    aggregate_id: UUID,
    issued_at: datetime,
    actor: Actor,
    payload: Mapping[str, Any],
    correlation_id: UUID | None = None,
    expected_version: int | None = None,
    via: Via | None = None,
) -> dict[str, Any]:
    """Build a JSON-ready command envelope (``via`` only when given)."""
    envelope: dict[str, Any] = {
        "command_id": str(command_id),
        "type": type,
        "aggregate_id": str(aggregate_id),
        "expected_version": expected_version,
        "issued_at": rfc3339(issued_at),
        "actor": actor.as_dict(),
        "correlation_id": str(correlation_id or command_id),
        "payload": dict(payload),
    }
    if via is not None:
        envelope["via"] = via.as_dict()
    return envelope


def parse_command(raw: Mapping[str, Any]) -> AnyCommand:
    """Validate a raw command envelope (a decoded JSON object).

    Checks, in order: that every string can be stored downstream (no U+0000, no unpaired
    surrogate: :mod:`~supportes.aggregates.storable`, one rule for every field of every command),
    the envelope fields, the ``type`` (``unknown_command``), the payload fields, then
    ``FUTURE_FIELDS`` against ``issued_at``. Raises :class:`Rejection`.
    """
    if not isinstance(raw, Mapping):
        raise Rejection(ErrorCode.INVALID, "a command must be a JSON object", None)
    unstorable = first_unstorable(raw)
    if unstorable is not None:
        place, char = unstorable
        raise Rejection(
            ErrorCode.INVALID,
            f"{place or 'command'}: must not contain {describe(char)}: no store can hold it",
            place,
        )
    try:
        envelope = CommandEnvelope.model_validate(raw if type(raw) is dict else dict(raw))
    except ValidationError as exc:
        raise _rejection_from(exc, prefix=()) from None
    model = COMMAND_PAYLOADS.get(envelope.type)
    if model is None:
        raise Rejection(
            ErrorCode.UNKNOWN_COMMAND, f"unknown command type {envelope.type!r}", "type"
        )
    raw_payload, sealed = _lift_sealed(model, envelope.payload or {})
    try:
        payload = model.model_validate(raw_payload)
    except ValidationError as exc:
        raise _rejection_from(exc, prefix=("payload",)) from None
    if sealed:  # the model was made here and is not shared yet: what model_copy does, cheaper
        payload.__dict__.update(sealed)
    for name in model.FUTURE_FIELDS:
        moment = getattr(payload, name)
        if moment is not None and moment <= envelope.issued_at:
            raise Rejection(
                ErrorCode.INVALID,
                f"payload.{name}: must be after issued_at ({rfc3339(envelope.issued_at)})",
                f"payload.{name}",
            )
    return ParsedCommand(
        command_id=envelope.command_id,
        type=envelope.type,
        aggregate_id=envelope.aggregate_id,
        expected_version=envelope.expected_version,
        issued_at=envelope.issued_at,
        actor=envelope.actor,
        correlation_id=envelope.correlation_id or envelope.command_id,
        payload=payload,
        via=envelope.via,
    )


SEALED_STAND_IN = "sealed"
"""What a sealed field is validated as: its plaintext was checked where it was sealed."""


def _lift_sealed(
    model: type[CommandPayload], payload: Mapping[str, Any]
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The payload to validate, with each sealed personal field (its shape checked) replaced by
    a stand-in text, and those sealed fields, to put back into the validated payload."""
    sealed: dict[str, Any] = {}
    for name in personal_fields(model):
        value = payload.get(name)
        if is_sealed(value):
            problem = sealed_shape_problem(value)
            if problem is not None:
                raise Rejection(ErrorCode.INVALID, f"payload.{name}: {problem}", f"payload.{name}")
            sealed[name] = dict(value)
    if not sealed:
        return payload, sealed
    return {**payload, **dict.fromkeys(sealed, SEALED_STAND_IN)}, sealed


def salvage_uuid(raw: object, field: str) -> UUID | None:
    """Read ``command_id``/``aggregate_id`` from an envelope that failed validation, if possible.

    For rule 10: a malformed command still gets a rejected result when its id can be read.
    """
    value = raw.get(field) if isinstance(raw, Mapping) else None
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def _rejection_from(exc: ValidationError, prefix: tuple[str, ...]) -> Rejection:
    error = exc.errors(include_url=False)[0]
    field = _dotted((*prefix, *(str(p) for p in error["loc"])))
    return Rejection(ErrorCode.INVALID, f"{field or 'command'}: {_plain(error)}", field or None)


def _dotted(loc: tuple[str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if part.isdigit() and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(part)
    return ".".join(parts)


_PLAIN: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not an allowed field",
    "string_type": "must be a string",
    "int_type": "must be a whole number (not a boolean, decimal or string)",
    "uuid_type": "must be a UUID string",
    "uuid_parsing": "must be a UUID",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _plain(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "enum":
        return f"must be one of {ctx.get('expected', 'the allowed values')}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    return str(error["msg"])


__all__ = [
    "COMMAND_PAYLOADS",
    "AnyCommand",
    "CommandEnvelope",
    "CommandPayload",
    "ParsedCommand",
    "command_envelope",
    "parse_command",
    "salvage_uuid",
]
