"""Reading command envelopes from JSON lines, checking what routing needs before anything is sent.

The writer validates each command fully (and answers a rejected result); here a line is refused
only when it could not be routed or answered at all, and then nothing of the input is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from supportes.errors import UsageError

ROUTING_FIELDS = ("command_id", "aggregate_id")


def read_command_lines(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    """The envelopes of non-blank ``lines``; UsageError naming the line and field otherwise."""
    return [envelope for _, envelope in read_numbered_command_lines(lines, source)]


def read_numbered_command_lines(
    lines: Iterable[str], source: str
) -> list[tuple[str, dict[str, Any]]]:
    """:func:`read_command_lines` with where each envelope came from (``stdin line 3``)."""
    envelopes: list[tuple[str, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            envelope = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(envelope, dict):
            raise UsageError(f"{where}: a command envelope must be a JSON object")
        for field in ROUTING_FIELDS:
            value = envelope.get(field)
            if not isinstance(value, str):
                raise UsageError(f"{where}: {field} is required and must be a UUID string")
            try:
                UUID(value)
            except ValueError:
                raise UsageError(f"{where}: {field} must be a UUID, got {value!r}") from None
        if not isinstance(envelope.get("type"), str):
            raise UsageError(f"{where}: type is required and must be a command name")
        envelopes.append((where, envelope))
    return envelopes
