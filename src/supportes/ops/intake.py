"""Channel intake: where an inbound message from a customer belongs (design section 8).

- the customer's case (the one ``reference`` names, else its latest) is open: a contact on it;
- it is resolved: a contact on it, which reopens it ("customer replied", rule of RecordContact);
- it is closed: a new case, ``follow_up_of`` the closed one, its last owner suggested as owner;
- the customer has no case (or the reference is unknown to it): a new case.

:func:`plan_intake` reads ``proj.case_view`` and returns the command to submit; nothing here
sends anything or knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

import psycopg2.extensions

from supportes.aggregates.values import MAX_SHORT_TEXT
from supportes.ops.queries import dict_rows

SUBJECT_CHARS = 120
"""Length of a subject made from a message's first line when the channel gave none."""


class IntakeAction(StrEnum):
    """What intake did with a message."""

    RECORDED = "recorded"
    REOPENED = "reopened"
    OPENED_FOLLOW_UP = "opened_follow_up"
    OPENED = "opened"


@dataclass(frozen=True)
class InboundMessage:
    """A message a channel received from a customer."""

    customer_id: str
    channel: str
    message: str
    subject: str | None = None
    reference: str | None = None
    priority: str | None = None


@dataclass(frozen=True)
class IntakePlan:
    """The command intake submits, and why."""

    action: IntakeAction
    case_id: UUID
    command_type: str
    payload: dict[str, Any]
    follow_up_of: UUID | None = None


class UnknownReferenceError(LookupError):
    """The reference names no case of this customer (or no case at all)."""


def plan_intake(conn: psycopg2.extensions.connection, inbound: InboundMessage) -> IntakePlan:
    """Decide what ``inbound`` becomes. Raises UnknownReferenceError for a reference that is not
    one of the customer's cases (another customer's case is treated as unknown)."""
    case = _latest_case(conn, inbound.customer_id, inbound.reference)
    if case is None and inbound.reference is not None:
        raise UnknownReferenceError(inbound.reference)
    if case is not None and case["status"] != "closed":
        action = IntakeAction.REOPENED if case["status"] == "resolved" else IntakeAction.RECORDED
        payload = {"direction": "inbound", "channel": inbound.channel, "summary": inbound.message}
        return IntakePlan(action, UUID(str(case["case_id"])), "RecordContact", payload)
    opening: dict[str, Any] = {
        "customer_id": inbound.customer_id,
        "channel": inbound.channel,
        "subject": inbound.subject or subject_of(inbound.message),
        "description": inbound.message,
    }
    if inbound.priority is not None:
        opening["priority"] = inbound.priority
    if case is None:
        return IntakePlan(IntakeAction.OPENED, uuid4(), "OpenCase", opening)
    previous = UUID(str(case["case_id"]))
    opening["follow_up_of"] = str(previous)
    owner = case["owner_id"] or case["responsible_id"]
    if owner:
        opening["suggested_owner_id"] = owner
    return IntakePlan(IntakeAction.OPENED_FOLLOW_UP, uuid4(), "OpenCase", opening, previous)


def subject_of(message: str) -> str:
    """A subject from a message's first non-blank line, shortened to :data:`SUBJECT_CHARS`."""
    line = next((text.strip() for text in message.splitlines() if text.strip()), "")
    line = line or message.strip() or "(no subject)"
    limit = min(SUBJECT_CHARS, MAX_SHORT_TEXT)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _latest_case(
    conn: psycopg2.extensions.connection, customer_id: str, reference: str | None
) -> dict[str, Any] | None:
    if reference is not None:
        rows = dict_rows(
            conn,
            "SELECT case_id, status, owner_id, responsible_id FROM proj.case_view"
            " WHERE reference = %s AND customer_id = %s",
            (reference.strip().upper(), customer_id),
        )
    else:
        rows = dict_rows(
            conn,
            "SELECT case_id, status, owner_id, responsible_id FROM proj.case_view"
            " WHERE customer_id = %s ORDER BY opened_at DESC, case_id DESC LIMIT 1",
            (customer_id,),
        )
    return rows[0] if rows else None
