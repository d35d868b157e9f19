"""Turning an authenticated request into a command envelope whose actor and time are attested.

The caller never chooses who it is: the actor comes from the principal (or, for an integration
acting ``on_behalf_of`` a customer, the customer, with ``via`` naming the integration); the
time is the server's unless the principal may import history. The envelope is validated here,
so a refused request never reaches Kafka. No HTTP in here: the API and any other front door use
the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from supportes.aggregates import Rejection, parse_command
from supportes.aggregates.commands import COMMAND_PAYLOADS, AnyCommand, command_envelope
from supportes.auth import Principal
from supportes.auth.policy import Forbidden, may_set_issued_at, require_command

IDEMPOTENCY_NAMESPACE = UUID("6f3c0b7e-4a51-5d8e-9a0e-2b7c1d9e8f10")
"""Namespace of command ids derived from ``Idempotency-Key`` headers."""


def command_id_for(principal: Principal, idempotency_key: str | None) -> UUID:
    """A fresh command id, or the one ``idempotency_key`` names for this principal (keys of
    different principals never collide)."""
    if idempotency_key is None:
        return uuid4()
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{principal.id}\n{idempotency_key}")


@dataclass(frozen=True)
class CommandRequest:
    """What a caller asks for: everything but who and (usually) when."""

    type: str
    aggregate_id: UUID
    payload: dict[str, Any]
    issued_at: datetime | None = None
    on_behalf_of: str | None = None
    actor_id: str | None = None
    correlation_id: UUID | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class AttestedCommand:
    """The envelope to send, and the command it parses to."""

    envelope: dict[str, Any]
    command: AnyCommand


def attest(
    principal: Principal, request: CommandRequest, *, command_id: UUID, now: datetime
) -> AttestedCommand:
    """The envelope for ``request`` by ``principal``.

    Raises :class:`Forbidden` (the policy says no: the command type, another actor, a time
    given by a principal that may not import history) or :class:`Rejection` (the envelope is
    not a valid command: ``invalid`` naming the field, ``unknown_command``).
    """
    if request.type not in COMMAND_PAYLOADS:
        raise Rejection("unknown_command", f"unknown command type {request.type!r}", "type")
    if request.issued_at is not None and not may_set_issued_at(principal):
        raise Forbidden(
            "issued_at: only a principal allowed to import history (admin) may date a command;"
            " leave it out and the server's clock stamps it"
        )
    actor, via = require_command(
        principal,
        request.type,
        on_behalf_of=request.on_behalf_of,
        actor_id=request.actor_id,
        payload=request.payload,
    )
    envelope = command_envelope(
        command_id=command_id,
        type=request.type,
        aggregate_id=request.aggregate_id,
        issued_at=request.issued_at or now,
        actor=actor,
        via=via,
        payload=request.payload,
        correlation_id=request.correlation_id,
        expected_version=request.expected_version,
    )
    command = parse_command(envelope)
    return AttestedCommand(envelope, command)


__all__ = [
    "AttestedCommand",
    "CommandRequest",
    "Forbidden",
    "Rejection",
    "attest",
    "command_id_for",
]
