"""Rejections: the error codes of design section 3 and the exception that carries them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The public rejection codes (design section 3)."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    VERSION_CONFLICT = "version_conflict"
    CASE_CLOSED = "case_closed"
    NOT_RESOLVED = "not_resolved"
    ALREADY_RESOLVED = "already_resolved"
    NO_OWNER = "no_owner"
    FOLLOW_UP_PENDING = "follow_up_pending"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    ACTIONS_PENDING = "actions_pending"
    NO_ACTIONS = "no_actions"
    DUPLICATE_ACTION = "duplicate_action"
    UNKNOWN_ACTION = "unknown_action"
    UNKNOWN_COMMAND = "unknown_command"
    ALREADY_WAIVED = "already_waived"
    """``WaiveRootCause`` on a case whose root cause is already waived."""
    SUBJECT_ERASED = "subject_erased"
    """Personal data for a customer whose personal data was erased (design section 9)."""
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    """A ``command_id`` already answered, sent again with a different body."""


class Rejection(Exception):  # noqa: N818 - a rejection is a normal outcome, not an error
    """A command was refused by a rule; nothing was written.

    ``field`` is a dotted path into the command envelope (``payload.score``, ``actor.kind``,
    ``issued_at``) when the rejection is about one field, else ``None``.
    """

    def __init__(self, code: ErrorCode | str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = ErrorCode(code)
        self.message = message
        self.field = field

    def as_error(self) -> dict[str, Any]:
        """The ``error`` object of a rejected result envelope."""
        return {"code": self.code.value, "message": self.message, "field": self.field}

    def __repr__(self) -> str:
        return (
            f"Rejection(code={self.code.value!r}, message={self.message!r}, field={self.field!r})"
        )


class EnvelopeError(ValueError):
    """A stored event envelope cannot be read (malformed, unknown type, newer schema, bad order)."""
