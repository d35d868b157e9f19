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
from supportes.messaging.clients import Component, committed_reader
from supportes.messaging.routing import key_of
from supportes.ops.audit_checks import differing_fields
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
        consumer = committed_reader(
            settings, Component.AUDITOR, max_poll_records=50, fetch_max_wait_ms=50
        )
    except KafkaError as exc:
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} (SUPPORTES_KAFKA_BOOTSTRAP): {exc}"
        ) from None
    try:
        differences: list[LogDifference] = []
        logged: list[dict[str, Any]] = []
        reader = _OffsetReader(consumer, timeout_s, settings.bootstrap_servers)
        for entry in history:
            record = reader.record_at(entry)
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


class _OffsetReader:
    """Records at given offsets, read_committed. The end offset is taken once per partition, and
    a case's events usually sit close together, so one fetch often serves several of them."""

    def __init__(self, consumer: KafkaConsumer, timeout_s: float, bootstrap: str) -> None:
        self.consumer = consumer
        self.timeout_s = timeout_s
        self.bootstrap = bootstrap
        self._ends: dict[TopicPartition, int] = {}
        self._fetched: dict[int, ConsumerRecord] = {}  # by offset, of the partition assigned
        self._fetched_upto = -1  # every committed record below this offset was fetched
        self._fetched_from = 0

    def record_at(self, entry: HistoryEntry) -> ConsumerRecord | None:
        """The committed record at the entry's offset, or ``None`` when there is none there."""
        tp = TopicPartition(entry.topic, entry.partition)
        if tp not in self._ends:
            self.consumer.assign([tp])
            self._ends[tp] = self.consumer.end_offsets([tp])[tp]
            self._fetched, self._fetched_from, self._fetched_upto = {}, 0, -1
        if entry.offset >= self._ends[tp]:
            return None
        if not self._fetched_from <= entry.offset < self._fetched_upto:
            self._fetch_from(tp, entry)
        return self._fetched.get(entry.offset)  # absent: aborted or a control record

    def _fetch_from(self, tp: TopicPartition, entry: HistoryEntry) -> None:
        self.consumer.seek(tp, entry.offset)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            records: list[ConsumerRecord] = self.consumer.poll(timeout_ms=500).get(tp, [])
            position = self.consumer.position(tp)
            if records or position > entry.offset:
                self._fetched = {r.offset: r for r in records}
                self._fetched_from, self._fetched_upto = entry.offset, position
                return
        raise ConfigError(
            f"reading {entry.topic}[{entry.partition}] offset {entry.offset} from Kafka timed out "
            f"after {self.timeout_s:g}s (SUPPORTES_KAFKA_BOOTSTRAP={self.bootstrap})"
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
    fields = differing_fields(logged, entry.envelope)
    if fields:
        return f"index and log differ in {', '.join(fields)}", logged
    if logged.get("hash") != entry.hash:
        return "index hash column differs from the logged hash", logged
    return None, logged
