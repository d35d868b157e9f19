"""Value types shared by commands, events and aggregates: enums, the actor and ``via``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from pydantic_core import PydanticCustomError

MAX_ID = 200
MAX_SHORT_TEXT = 1_000
MAX_LONG_TEXT = 20_000


def not_blank(value: str) -> str:
    """Pydantic after-validator: refuse empty or whitespace-only text."""
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty or only whitespace")
    return value


Id = Annotated[StrictStr, Field(max_length=MAX_ID), AfterValidator(not_blank)]
"""A non-blank identifier string (agent, customer, action, known answer ids)."""
ShortText = Annotated[StrictStr, Field(max_length=MAX_SHORT_TEXT), AfterValidator(not_blank)]
"""Non-blank one-line text (subject, title, reason)."""
Text = Annotated[StrictStr, Field(max_length=MAX_LONG_TEXT), AfterValidator(not_blank)]
"""Non-blank free text (description, summary, message)."""

FINGERPRINT_CHARS = 64
_HEX_DIGITS = frozenset("0123456789abcdef")


def is_fingerprint(value: str) -> str:
    """Pydantic after-validator: exactly 64 lowercase hexadecimal characters (a SHA-256)."""
    if len(value) != FINGERPRINT_CHARS or not _HEX_DIGITS.issuperset(value):
        raise PydanticCustomError(
            "fingerprint",
            "must be a key fingerprint: exactly 64 lowercase hexadecimal characters",
        )
    return value


Fingerprint = Annotated[StrictStr, AfterValidator(is_fingerprint)]
"""The one-way fingerprint of a destroyed data key (``privacy.cipher.key_fingerprint``)."""


class Channel(StrEnum):
    """Where a contact happened."""

    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    WEB = "web"
    SOCIAL = "social"
    IN_PERSON = "in_person"


class Priority(StrEnum):
    """Case priority."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    """Direction of a recorded contact, seen from the support team."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class FixKind(StrEnum):
    """Kind of quick fix applied to a case."""

    ANSWER = "answer"
    WORKAROUND = "workaround"
    FIX = "fix"


class FollowUpOutcome(StrEnum):
    """What the customer said when followed up after resolution."""

    CONFIRMED = "confirmed"
    NOT_RESOLVED = "not_resolved"
    NO_RESPONSE = "no_response"


class PreventiveActionKind(StrEnum):
    """Kind of "fix it twice" preventive action on a root cause."""

    DOCUMENTATION = "documentation"
    BUG_FIX = "bug_fix"
    PRODUCT_CHANGE = "product_change"
    PROCESS_CHANGE = "process_change"
    TRAINING = "training"


class ActorKind(StrEnum):
    """Who issued a command."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class Actor(BaseModel):
    """The issuer of a command (and so of the events it causes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    kind: ActorKind

    def as_dict(self) -> dict[str, str]:
        """Wire form: ``{"id": ..., "kind": ...}``."""
        return {"id": self.id, "kind": self.kind.value}


class Via(BaseModel):
    """An integration acting for the command's actor (design section 8: ``on_behalf_of``).

    Copied from the command into its events (covered by their hash); absent when nobody
    acted for the actor.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    kind: Literal["integration"]

    def as_dict(self) -> dict[str, str]:
        """Wire form: ``{"id": ..., "kind": "integration"}``."""
        return {"id": self.id, "kind": self.kind}


SYSTEM_ACTOR = Actor(id="system:supportes", kind=ActorKind.SYSTEM)
"""The actor of follow-on commands produced by supportes itself."""


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; microseconds only when present (round-trips exactly)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: supportes times are always timezone-aware")
    utc = moment.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset (``Z`` allowed) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"date-time without a timezone: {text!r}")
    return moment.astimezone(UTC)


def jsonable(value: Any) -> Any:
    """Convert domain values (UUID, datetime, enums, tuples, dicts) into JSON-native values."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is float:
        return value
    if kind is dict:  # before the ABC checks below: a sealed field is a dict of strings
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    raise TypeError(f"not representable in JSON: {type(value).__name__}")
