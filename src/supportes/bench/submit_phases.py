"""Where a submitted command's time goes, read back from the log: the command record's timestamp
(when the submitter's producer made it) and its result record's (when the writer made the
result, before its transaction commits) split send -> answer into three phases:

* ``to the log``: from the send (the HTTP request, or the client's ``send``) to the command
  record: for HTTP, the API's edge (parse, token, attest, case check) and its event loop;
* ``writer``: command record -> result record (poll, decide, produce);
* ``to the answer``: result record -> the answer in hand (the writer's commit, the results
  reader, for HTTP the response).

Record timestamps are the producers' wall clock in milliseconds, on this same machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from kafka import TopicPartition

from supportes.bench.stats import percentile
from supportes.messaging.clients import Component, committed_reader
from supportes.settings import Settings

PHASES = ("to the log", "writer", "to the answer")
READ_BACK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Timed:
    """One answered command: its id, when it was sent and answered (wall clock, seconds)."""

    command_id: str
    sent: float
    answered: float


def record_times(settings: Settings, topic: str, wanted: set[str]) -> dict[str, float]:
    """The record timestamp (seconds) of each ``command_id`` in ``wanted`` found on ``topic``
    (``commands`` or ``results``), read from the start to the end offsets of now."""
    reader = committed_reader(settings, Component.ADMIN)
    found: dict[str, float] = {}
    try:
        partitions = [TopicPartition(settings.topic(topic), p) for p in range(settings.partitions)]
        reader.assign(partitions)
        ends = reader.end_offsets(partitions)
        reader.seek_to_beginning(*partitions)
        deadline = time.monotonic() + READ_BACK_TIMEOUT_S
        while any(reader.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read back within {READ_BACK_TIMEOUT_S:g} s")
            for records in reader.poll(timeout_ms=500).values():
                for record in records:
                    command_id = _command_id(record.value)
                    if command_id in wanted:
                        found[command_id] = record.timestamp / 1000
    finally:
        reader.close()
    return found


def _command_id(value: bytes | None) -> str | None:
    if not value:
        return None
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    command_id = document.get("command_id") if isinstance(document, dict) else None
    return str(command_id) if command_id is not None else None


def phases(
    timed: Iterable[Timed], commands: Mapping[str, float], results: Mapping[str, float]
) -> dict[str, list[float]]:
    """The three phases (seconds) of each command found on both topics."""
    split: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for one in timed:
        logged = commands.get(one.command_id)
        decided = results.get(one.command_id)
        if logged is None or decided is None:
            continue
        split["to the log"].append(logged - one.sent)
        split["writer"].append(decided - logged)
        split["to the answer"].append(one.answered - decided)
    return split


def summary(split: Mapping[str, list[float]]) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of each phase that has samples."""
    return {
        phase: (percentile(values, 50) * 1000, percentile(values, 99) * 1000)
        for phase, values in split.items()
        if values
    }
