"""Request and response bodies of the API, as they appear in ``/openapi.json``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from supportes.api.storable_input import StorableBody


class ErrorDetail(BaseModel):
    """What went wrong; ``field`` is a dotted path into the request for input errors."""

    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error response (the shape of a rejected command's result)."""

    error: ErrorDetail


class ActorRef(BaseModel):
    """An actor as a request may name it (it must be the caller)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    kind: Literal["customer", "agent", "system"]


class CommandBody(StorableBody, BaseModel):
    """A command to submit; the actor and time come from the caller's identity and the clock."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200, examples=["Acknowledge"])
    aggregate_id: UUID
    payload: dict[str, Any] = Field(default_factory=dict)
    issued_at: datetime | None = Field(
        default=None, description="Honoured only for principals that may import history."
    )
    on_behalf_of: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Integrations only: the customer the command is for (becomes the actor).",
    )
    actor: ActorRef | None = Field(
        default=None, description="Optional; when given it must be the caller (else 403)."
    )
    correlation_id: UUID | None = None


class EventRef(BaseModel):
    """An event a command produced."""

    event_id: str
    type: str
    version: int


class CommandResult(BaseModel):
    """A command's result (design section 3)."""

    command_id: str | None
    status: Literal["accepted", "rejected"]
    aggregate_id: str | None
    version: int | None
    events: list[EventRef]
    error: ErrorDetail | None


class Pending(BaseModel):
    """A command on the log whose result has not arrived yet."""

    command_id: str
    status: Literal["pending"]


class ContactBody(StorableBody, BaseModel):
    """An inbound message from a customer, as a channel received it."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The customer (integrations); a customer caller is itself and may omit it.",
    )
    channel: Literal["email", "phone", "chat", "web", "social", "in_person"]
    message: str = Field(min_length=1, max_length=20_000)
    subject: str | None = Field(default=None, min_length=1, max_length=1000)
    reference: str | None = Field(
        default=None, min_length=1, max_length=40, description="The case reference, if known."
    )
    priority: Literal["low", "normal", "high", "urgent"] | None = None


class ContactAnswer(BaseModel):
    """What intake did with the message."""

    case_id: UUID
    action: Literal["recorded", "reopened", "opened_follow_up", "opened"]
    follow_up_of: UUID | None
    result: CommandResult | Pending


class Page(BaseModel):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class EventItem(BaseModel):
    """One event of the log, with its place in it."""

    partition: int
    offset: int
    event: Any


class EventsPage(BaseModel):
    """A page of the event feed; ``end_of_stream`` when the log had no more at read time."""

    events: list[EventItem]
    next_cursor: str
    end_of_stream: bool


class Health(BaseModel):
    """A liveness or readiness answer."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        401: "No token, or a token that is not valid",
        403: "The caller's roles do not allow it",
        404: "Not found (or not the caller's)",
        422: "Invalid input (the field is named)",
        429: "Too many requests (Retry-After)",
    }.items()
}
"""The error responses every authenticated route may give."""
