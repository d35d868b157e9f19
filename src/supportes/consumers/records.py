"""Turning raw command records into parsed commands, or into the reason they are unusable."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from supportes.aggregates import AnyCommand, ErrorCode, Rejection, parse_command
from supportes.aggregates.dispatch import rejected_result

_COMMAND_ID = re.compile(rb'"command_id"\s*:\s*"([0-9a-fA-F-]{36})"')


class Incoming(NamedTuple):
    """One command record after parsing: a command, or a rejection (and whether to dead-letter)."""

    command_id: str | None
    command: AnyCommand | None = None
    rejection: Rejection | None = None
    aggregate_id: str | None = None
    reason: str | None = None  # set when the record belongs on the dead-letter topic
    digest: str | None = None  # command_digest of the envelope, when it is a JSON object


DIGESTED_FIELDS = ("type", "aggregate_id", "expected_version", "actor", "via", "payload")
"""What makes two commands with one ``command_id`` the same command. ``issued_at`` and
``correlation_id`` are left out: a client retrying a command may stamp a new send time."""


DIGEST_HEADER = "supportes-command-digest"
"""Header of a result record: the :func:`command_digest` of the command it answers (so that a
writer re-learning processed commands from the results topic learns their digests too)."""


REPLAYED_HEADER = "supportes-replayed"
"""Header of a result record that answers a resubmitted ``command_id`` with its first result."""
REPLAYED_HEADER_ITEM = (REPLAYED_HEADER, b"true")


WRITER_HEADER = "supportes-writer"
"""Header of the first result record a writer's transaction puts on a partition: who wrote the
transaction (:func:`writer_header`). Read back in offset order, a partition's marks show its
owners one after the other: the group generation never goes back, and one generation has one
writer (:func:`writer_of`; ``tests/integration/test_writer_rebalance.py``)."""


@dataclass(frozen=True)
class WriterMark:
    """Who wrote a transaction: the transactional id, the group generation its offsets were
    fenced by (-1: not in group mode), and the producer id and epoch."""

    transactional_id: str
    generation: int
    producer_id: int
    epoch: int


def writer_header(
    transactional_id: str, generation: int, producer: tuple[int, int] | None
) -> tuple[str, bytes]:
    """The :data:`WRITER_HEADER` of a transaction begun by ``producer`` (id, epoch)."""
    producer_id, epoch = producer if producer is not None else (-1, -1)
    mark = {"tid": transactional_id, "gen": generation, "pid": producer_id, "epoch": epoch}
    return WRITER_HEADER, orjson.dumps(mark)


def writer_of(headers: list[tuple[str, bytes]] | None) -> WriterMark | None:
    """The :class:`WriterMark` a result record's headers carry, if any (None if malformed)."""
    for name, value in headers or ():
        if name == WRITER_HEADER:
            try:
                mark = orjson.loads(value)
                return WriterMark(
                    str(mark["tid"]), int(mark["gen"]), int(mark["pid"]), int(mark["epoch"])
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return None
    return None


def is_replayed(headers: list[tuple[str, bytes]] | None) -> bool:
    """Whether a result record answers a resubmitted command (:data:`REPLAYED_HEADER`)."""
    return any(name == REPLAYED_HEADER for name, _ in headers or ())


def digest_header(headers: list[tuple[str, bytes]] | None) -> str | None:
    """The command digest a result record's headers carry, if any."""
    for name, value in headers or ():
        if name == DIGEST_HEADER and value:
            return value.decode("ascii", "replace")
    return None


def command_digest(raw: Mapping[str, Any]) -> str:
    """SHA-256 over the digested fields in canonical order (keys sorted at every level)."""
    body = {name: raw.get(name) for name in DIGESTED_FIELDS}
    try:
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # beyond 64-bit integers, lone surrogates: the standard library's form
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(text).hexdigest()


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
    digest = command_digest(raw)
    try:
        command = parse_command(raw)
    except Rejection as rejection:
        return Incoming(
            _valid_uuid(raw.get("command_id")),
            rejection=rejection,
            aggregate_id=_valid_uuid(raw.get("aggregate_id")),
            reason=f"{rejection.code.value}: {rejection.message}",
            digest=digest,
        )
    return Incoming(
        command.command_id_text,
        command=command,
        aggregate_id=command.aggregate_id_text,
        digest=digest,
    )


def reused_key_result(command_id: str, parsed: Incoming) -> dict[str, Any]:
    """The rejected result for a ``command_id`` already answered for a different command."""
    rejection = Rejection(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "command_id: already used for a different command (another type, aggregate, actor or"
        " payload); the first command's result stands. Use a new command_id for a new command",
        "command_id",
    )
    return rejected_result(command_id, parsed.aggregate_id, None, rejection)


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
