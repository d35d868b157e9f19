"""``supportes privacy seal-log``: the one-time migration of a log written before encryption.

A log whose events hold personal fields in plaintext cannot forget anyone: the bytes stay on the
topic for ever. This copies it, once, into the topics of a new prefix (the settings' prefix;
the old one is ``source_prefix``), with everything stopped:

1. every event of every partition, in log order and into the same partition, through
   :class:`~supportes.privacy.log_sealing.EventSealer` (personal fields sealed with their case
   customer's key, an erased customer's text masked, each hash chain re-linked over the new
   bytes), in transactions of ``per_transaction`` events; a record that is not an event is
   copied as it is (``audit verify`` reports it, as it did on the old log);
2. every result, as it is (results hold no personal field): the new writer indexes both on
   takeover, so a command sent again is still answered once;
3. the old prefix's rows of the event index are deleted (the index's key is the aggregate and
   version, not the topic; the new writer re-indexes from the new log).

Then the operator rebuilds the projections on the new prefix, starts it, runs ``audit verify``
and deletes the old topics (``--delete-source`` does it here, after everything else). The new
chains are new hashes: the old log's proof ends at the migration, which its own ``audit
verify`` run before the migration records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import psycopg2.extensions
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from supportes import fastjson
from supportes.aggregates.errors import EnvelopeError
from supportes.errors import UsageError
from supportes.logs import get_logger
from supportes.messaging.clients import committed_reader, transactional_producer, wait_for_topic
from supportes.messaging.log_reader import read_to_end
from supportes.messaging.security import Component
from supportes.privacy.keystore import KeyStore
from supportes.privacy.log_sealing import EventSealer
from supportes.settings import Settings
from supportes.stack.kafka_admin import admin_client, topic_specs

log = get_logger("seal_log")

PER_TRANSACTION = 1000
READ_TIMEOUT_S = 6 * 3600.0
"""Bound on reading one partition (a one-time job over a long history, with progress lines)."""
PROGRESS_EVERY = 50_000


@dataclass
class SealLogReport:
    """What a migration did."""

    source_prefix: str
    target_prefix: str
    partitions: int = 0
    events: int = 0
    sealed_fields: int = 0
    masked_fields: int = 0
    copied_unread: int = 0
    """Records of the events topic that are not event envelopes, copied as they were."""
    unknown_customer: int = 0
    """Aggregates with personal text whose customer is unknown (left in plaintext)."""
    results: int = 0
    index_rows_deleted: int = 0
    source_deleted: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def seal_log(
    source_prefix: str,
    target: Settings,
    keys: KeyStore,
    conn: psycopg2.extensions.connection,
    *,
    delete_source: bool = False,
    per_transaction: int = PER_TRANSACTION,
) -> SealLogReport:
    """Copy the log of ``source_prefix`` into ``target``'s topics (which must exist, empty),
    sealed; ``conn`` (the owner's, autocommit) reads ``privacy.case_subjects`` and deletes the
    old index rows. Raises UsageError for a target that is the source or not empty."""
    source = target.model_copy(update={"topic_prefix": source_prefix})
    if source.topic("events") == target.topic("events"):
        raise UsageError("--from-prefix: must name the old prefix, not the one being written")
    report = SealLogReport(source_prefix, target.topic_prefix)
    began = time.monotonic()
    audit_key = target.audit_key.get_secret_value().encode() if target.audit_key else None
    sealer = EventSealer(keys, audit_key=audit_key, customer_of=_case_subjects(conn))
    reader = committed_reader(source, Component.ADMIN)
    producer = transactional_producer(target, Component.ADMIN, f"{target.topic_prefix}-seal-log")
    try:
        _require_empty(reader, target)
        producer.init_transactions()
        copier = _Copier(reader, producer, per_transaction)
        events, results = source.topic("events"), source.topic("results")
        partitions = sorted(wait_for_topic(reader, events, timeout_s=30))
        report.partitions = len(partitions)
        for partition in partitions:
            sealer.reset()
            copier.copy(events, target.topic("events"), partition,
                        lambda record: _sealed_value(sealer, record, report))  # fmt: skip
        for partition in sorted(wait_for_topic(reader, results, timeout_s=30)):
            report.results += copier.copy(results, target.topic("results"), partition)
    finally:
        producer.close(timeout=10)
        reader.close()
    counts = sealer.counts
    report.sealed_fields, report.masked_fields = counts.sealed_fields, counts.masked_fields
    report.unknown_customer = len(counts.unknown_customer)
    report.index_rows_deleted = _drop_old_index(conn, source)
    if delete_source:
        _delete_topics(source)
        report.source_deleted = True
    report.seconds = round(time.monotonic() - began, 1)
    log.info("log sealed", **report.as_dict())
    return report


def _sealed_value(sealer: EventSealer, record: ConsumerRecord, report: SealLogReport) -> bytes:
    try:
        stored = orjson.loads(record.value)
        value = fastjson.dumps(sealer.seal(stored))
    except (orjson.JSONDecodeError, EnvelopeError, TypeError, KeyError):
        report.copied_unread += 1
        log.warning(
            "not an event envelope; copied as it is", partition=record.partition,
            offset=record.offset,
        )  # fmt: skip
        return bytes(record.value or b"")
    report.events += 1
    if report.events % PROGRESS_EVERY == 0:
        log.info("sealing the log", events=report.events, partition=record.partition)
    return value


@dataclass
class _Copier:
    """Copies partitions from topic to topic through one transactional producer."""

    reader: KafkaConsumer
    producer: KafkaProducer
    per_transaction: int

    def copy(
        self,
        from_topic: str,
        to_topic: str,
        partition: int,
        transform: Callable[[ConsumerRecord], bytes] | None = None,
    ) -> int:
        """Copy ``partition`` (same number on both sides), each value through ``transform``,
        in transactions of ``per_transaction`` records; how many records."""
        copied = in_transaction = 0
        start = TopicPartition(from_topic, partition)
        for records in read_to_end(self.reader, start, 0, timeout_s=READ_TIMEOUT_S):
            for record in records:
                if in_transaction == 0:
                    self.producer.begin_transaction()
                value = record.value if transform is None else transform(record)
                self.producer.send(
                    to_topic,
                    value=value,
                    key=record.key,
                    partition=partition,
                    headers=list(record.headers or []) or None,
                )
                copied += 1
                in_transaction += 1
                if in_transaction == self.per_transaction:
                    self.producer.commit_transaction()
                    in_transaction = 0
        if in_transaction:
            self.producer.commit_transaction()
        return copied


def _require_empty(reader: KafkaConsumer, target: Settings) -> None:
    for name in ("events", "results"):
        topic = target.topic(name)
        tps = [TopicPartition(topic, p) for p in wait_for_topic(reader, topic, timeout_s=30)]
        if any(reader.end_offsets(tps).values()):
            raise UsageError(
                f"{topic} is not empty: seal-log writes into the topics of a new prefix only"
                " (SUPPORTES_TOPIC_PREFIX)"
            )


def _case_subjects(conn: psycopg2.extensions.connection) -> Callable[[str], str | None]:
    def customer_of(case_id: str) -> str | None:
        with conn.cursor() as cur:
            cur.execute("SELECT subject FROM privacy.case_subjects WHERE case_id = %s", (case_id,))
            row = cur.fetchone()
        return None if row is None else str(row[0])

    return customer_of


def _drop_old_index(conn: psycopg2.extensions.connection, source: Settings) -> int:
    """Delete the event index's rows of the old prefix's topics; how many."""
    topics = [source.topic("events"), source.topic("results")]
    deleted = 0
    with conn.cursor() as cur:
        for table in ("events", "processed_commands", "log_positions", "parked_records"):
            cur.execute(
                f"DELETE FROM event_index.{table} WHERE topic = ANY(%s)", (topics,)
            )  # fixed table names
            deleted += cur.rowcount
    return deleted


def _delete_topics(source: Settings) -> None:
    """Delete the old prefix's topics (commands, events, results, dead letters: the old
    commands and dead letters hold plaintext too, and are not copied)."""
    with admin_client(source) as admin:
        existing = set(admin.list_topics())
        doomed = [spec.name for spec in topic_specs(source) if spec.name in existing]
        if doomed:
            admin.delete_topics(doomed)
