"""Turning raw command records into parsed commands, or into the reason they are unusable."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from supportes.aggregates import AnyCommand, Rejection, parse_command

_COMMAND_ID = re.compile(rb'"command_id"\s*:\s*"([0-9a-fA-F-]{36})"')


class Incoming(NamedTuple):
    """One command record after parsing: a command, or a rejection (and whether to dead-letter)."""

    command_id: str | None
    command: AnyCommand | None = None
    rejection: Rejection | None = None
    aggregate_id: str | None = None
    reason: str | None = None  # set when the record belongs on the dead-letter topic


def parse_record(value: bytes | None) -> Incoming:
    """Parse a command record value; never raises."""
    if value is None:
        return Incoming(None, reason="empty record")
    try:
        raw = _loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Incoming(
            _sniff_command_id(value),
            rejection=_invalid("not JSON", None),
            reason=f"not JSON: {exc}",
        )
    if not isinstance(raw, dict):
        return Incoming(
            None, rejection=_invalid("not a JSON object", None), reason="not a JSON object"
        )
    try:
        command = parse_command(raw)
    except Rejection as rejection:
        return Incoming(
            _valid_uuid(raw.get("command_id")),
            rejection=rejection,
            aggregate_id=_valid_uuid(raw.get("aggregate_id")),
            reason=f"{rejection.code.value}: {rejection.message}",
        )
    return Incoming(
        command.command_id_text, command=command, aggregate_id=command.aggregate_id_text
    )


def _loads(value: bytes) -> Any:
    """orjson; what it refuses (beyond 64-bit integers, NaN, lone surrogates, bad JSON) is read
    by the standard library, so the accepted input and the error messages are the stdlib's."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _invalid(message: str, field: str | None) -> Rejection:
    return Rejection("invalid", message, field)


def _valid_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def _sniff_command_id(value: bytes) -> str | None:
    match = _COMMAND_ID.search(value)
    return _valid_uuid(match.group(1).decode()) if match else None
