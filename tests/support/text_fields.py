"""Every free-text field of every command, read off the payload models (not a list kept here)."""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, NamedTuple

from supportes.aggregates import COMMAND_PAYLOADS

VALID_PAYLOADS: dict[str, dict[str, Any]] = {
    "OpenCase": {
        "customer_id": "customer:1",
        "channel": "email",
        "subject": "Printer jams",
        "description": "It jams on every second page.",
    },
    "RecordContact": {"direction": "inbound", "channel": "chat", "summary": "hello"},
    "Assign": {"agent_id": "agent:maria"},
    "Escalate": {"to_agent_id": "agent:lead", "reason": "needs a refund"},
    "UpdateCustomer": {"channel": "email", "message": "Still on it"},
    "ApplyFix": {"kind": "workaround", "summary": "disable auto-update"},
    "IdentifyRootCause": {"title": "Watchdog", "description": "Too eager"},
    "PlanPreventiveAction": {
        "action_id": "a1",
        "kind": "bug_fix",
        "description": "relax watchdog",
        "owner_id": "agent:dev",
    },
    "CompletePreventiveAction": {"action_id": "a1", "evidence": "release notes"},
    "RateSatisfaction": {"score": 4},
    "RecordFollowUp": {"outcome": "confirmed"},
    "ScheduleCallback": {"due_at": "2031-01-01T00:00:00Z"},
    "EraseSubject": {"customer_id": "customer:1"},
    "UndoRootCauseLink": {
        "root_cause_id": "6d1c2f0a-8a43-4e57-9a3e-1f0f3c5b7d21",
        "refusal": "not_found",
        "attach_command_id": "3f8e9a52-6f5d-4b0e-9a51-0c2d7e4b9a10",
    },
}
"""A valid payload (every required field) for the commands that have required non-text fields;
the others take ``{}`` plus the text field under test."""
ROOT_CAUSE_COMMANDS = frozenset(
    {"IdentifyRootCause", "PlanPreventiveAction", "CompletePreventiveAction", "VerifyFix",
     "ReopenRootCause", "AttachCase"}
)  # fmt: skip


def payload_with(field: TextField, value: str) -> dict[str, Any]:
    """A valid payload of ``field.command`` with ``value`` in ``field`` (a list for tags)."""
    payload = dict(VALID_PAYLOADS.get(field.command, {}))
    payload[field.name] = [value] if field.listed else value
    return payload


class TextField(NamedTuple):
    """One string-valued payload field; ``listed``: a list of strings (``tags``)."""

    command: str
    name: str
    listed: bool


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _unannotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_str(annotation: Any) -> bool:
    return _unannotated(annotation) is str


def text_fields() -> list[TextField]:
    """``(command type, field, listed)`` for every ``str`` or ``tuple[str, ...]`` field."""
    found: list[TextField] = []
    for command, model in sorted(COMMAND_PAYLOADS.items()):
        for name, info in model.model_fields.items():
            annotation = _unannotated(_strip_optional(info.annotation))
            if annotation is str:
                found.append(TextField(command, name, False))
            elif typing.get_origin(annotation) is tuple and _is_str(typing.get_args(annotation)[0]):
                found.append(TextField(command, name, True))
            elif isinstance(annotation, type) and issubclass(annotation, Enum):
                continue
    return found
