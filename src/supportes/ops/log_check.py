"""Reading a case's events back from Kafka at the offsets the index gives, and comparing.

Used by ``supportes case history --from-log``: every indexed event must be the committed record
at its (topic, partition, offset), byte-for-byte the same envelope, keyed by its aggregate, with
an intact hash chain. Any difference is reported by version and field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from supportes.aggregates.hashchain import verify_chain
from supportes.errors import ConfigError
from supportes.messaging.clients import committed_reader
from supportes.messaging.routing import key_of
from supportes.ops.case_history import HistoryEntry
from supportes.settings import Settings


@dataclass(frozen=True)
class LogDifference:
    """One indexed event that the log does not confirm."""

    version: int
    partition: int
    offset: int
    problem: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "version": self.version,
            "partition": self.partition,
            "offset": self.offset,
            "problem": self.problem,
        }


def compare_with_log(
    settings: Settings, history: Sequence[HistoryEntry], *, timeout_s: float = 30.0
) -> list[LogDifference]:
    """The differences between the indexed ``history`` and the log (empty: they agree)."""
    if not history:
        return []
    try:
        consumer = committed_reader(settings, max_poll_records=50, fetch_max_wait_ms=50)
    except KafkaError as exc:
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} (SUPPORTES_KAFKA_BOOTSTRAP): {exc}"
        ) from None
    try:
        differences: list[LogDifference] = []
        logged: list[dict[str, Any]] = []
        for entry in history:
            record = _record_at(consumer, entry, timeout_s, settings.bootstrap_servers)
            problem, envelope = _compare(entry, record)
            if envelope is not None:
                logged.append(envelope)
            if problem:
                differences.append(
                    LogDifference(entry.version, entry.partition, entry.offset, problem)
                )
        if not differences:
            key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
            chain = verify_chain(logged, key)
            if not chain.ok:
                at = chain.first_bad_version or 0
                place = next((e for e in history if e.version == at), history[-1])
                differences.append(
                    LogDifference(at, place.partition, place.offset, f"chain: {chain.reason}")
                )
        return differences
    finally:
        consumer.close()


def _record_at(
    consumer: KafkaConsumer, entry: HistoryEntry, timeout_s: float, bootstrap: str
) -> Any:
    """The committed record at the entry's offset, or ``None`` when there is none there."""
    tp = TopicPartition(entry.topic, entry.partition)
    if consumer.assignment() != {tp}:
        consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    if entry.offset >= end:
        return None
    consumer.seek(tp, entry.offset)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records: list[ConsumerRecord] = consumer.poll(timeout_ms=500).get(tp, [])
        for record in records:
            if record.offset == entry.offset:
                return record
            if record.offset > entry.offset:
                return None  # aborted, or a control record: nothing committed there
        if consumer.position(tp) > entry.offset:
            return None
    raise ConfigError(
        f"reading {entry.topic}[{entry.partition}] offset {entry.offset} from Kafka timed out "
        f"after {timeout_s:g}s (SUPPORTES_KAFKA_BOOTSTRAP={bootstrap})"
    )


def _compare(entry: HistoryEntry, record: Any) -> tuple[str | None, dict[str, Any] | None]:
    if record is None:
        return "no committed record at this offset", None
    try:
        logged = json.loads(record.value)
    except (TypeError, UnicodeDecodeError, json.JSONDecodeError):
        return "the record at this offset is not JSON", None
    if not isinstance(logged, dict):
        return "the record at this offset is not an event envelope", None
    if record.key != key_of(str(entry.envelope.get("aggregate_id"))):
        return f"record key {record.key!r} is not the aggregate id", logged
    fields = sorted(
        name
        for name in set(logged) | set(entry.envelope)
        if logged.get(name) != entry.envelope.get(name)
    )
    if fields:
        return f"index and log differ in {', '.join(fields)}", logged
    if logged.get("hash") != entry.hash:
        return "index hash column differs from the logged hash", logged
    return None, logged
