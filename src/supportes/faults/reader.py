"""Reading what the checker judges: a prefix's topics under both isolation levels, to their
ends, and the event index (one REPEATABLE READ snapshot), into a
:class:`~supportes.faults.model.LogSnapshot`.

kafka-python's ``end_offsets`` honours the consumer's ``isolation_level`` (its ListOffsets
request carries it, kafka/consumer/fetcher.py): a read_committed consumer gets the last stable
offset, a read_uncommitted one the high watermark.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from supportes.db.connect import connect_as
from supportes.errors import ConfigError, UsageError
from supportes.faults.model import LogSnapshot, Record, TopicView
from supportes.logs import get_logger
from supportes.messaging.clients import Component, committed_reader
from supportes.ops.audit_checks import IndexRow
from supportes.ops.audit_reading import index_positions as _index_positions
from supportes.ops.audit_reading import index_rows as _index_rows
from supportes.settings import PgComponent, Settings

log = get_logger("faults")
TOPICS = ("commands", "events", "results", "dead-letters")
STALL_TIMEOUT_S = 30.0


def read_snapshot(
    settings: Settings,
    *,
    submitted: Iterable[str] = (),
    open_wait_s: float = 10.0,
    progress_every: int = 20_000,
) -> LogSnapshot:
    """Read every topic of the configured prefix and the index. A transaction open on a
    partition is waited for up to ``open_wait_s`` in all (then reported, not waited for)."""
    consumers = _consumers(settings)
    try:
        ends = _ends_after_wait(settings, *consumers, open_wait_s=open_wait_s)
        topics = {}
        for name in TOPICS:
            stable, high = ends[name]
            topics[name] = TopicView(
                committed=_read(consumers[0], settings.topic(name), stable, progress_every),
                uncommitted=_read(consumers[1], settings.topic(name), high, progress_every),
                stable_ends=stable,
                high_ends=high,
            )
    except KafkaError as exc:
        raise ConfigError(f"reading {settings.topic_prefix}.* from Kafka failed: {exc}") from None
    finally:
        for consumer in consumers:
            consumer.close()
    rows, positions = _index(settings, ends["events"][0])
    key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
    return LogSnapshot(
        topics=topics,
        partitions=settings.partitions,
        index_rows=rows,
        indexed_up_to=positions,
        submitted=frozenset(submitted),
        audit_key=key,
    )


def load_submitted(path: Path) -> list[str]:
    """Command ids from a JSON lines file (:func:`parse_submitted`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return parse_submitted(lines, str(path))


def parse_submitted(lines: Iterable[str], source: str = "submitted") -> list[str]:
    """Command ids of JSON lines: each a JSON string, or an object with ``command_id`` (blank
    lines skipped); UsageError naming ``source`` and the line otherwise."""
    ids = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise UsageError(f"{source} line {number}: not JSON") from None
        command_id = value.get("command_id") if isinstance(value, dict) else value
        if not isinstance(command_id, str):
            raise UsageError(f"{source} line {number}: no command_id")
        ids.append(command_id)
    return ids


def _consumers(settings: Settings) -> tuple[KafkaConsumer, KafkaConsumer]:
    """(read_committed, read_uncommitted) group-less consumers; every topic is read, so as
    the stack tooling's principal."""
    try:
        committed = committed_reader(
            settings, Component.ADMIN, client_id="supportes-faults", allow_auto_create_topics=False
        )
        uncommitted = committed_reader(
            settings,
            Component.ADMIN,
            client_id="supportes-faults-uncommitted",
            isolation_level="read_uncommitted",
            allow_auto_create_topics=False,
        )
    except KafkaError as exc:
        raise ConfigError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from None
    return committed, uncommitted


Ends = tuple[dict[int, int], dict[int, int]]


def _ends_after_wait(
    settings: Settings,
    committed: KafkaConsumer,
    uncommitted: KafkaConsumer,
    *,
    open_wait_s: float,
) -> dict[str, Ends]:
    """Per topic: (last stable offsets, high watermarks), once no transaction is open or
    ``open_wait_s`` has passed."""
    tps = {name: _partitions(committed, settings.topic(name)) for name in TOPICS}
    deadline = time.monotonic() + open_wait_s
    while True:
        ends = {
            name: (_offsets(committed, tp_list), _offsets(uncommitted, tp_list))
            for name, tp_list in tps.items()
        }
        open_partitions = [
            (name, p) for name, (stable, high) in ends.items() for p in high if stable[p] < high[p]
        ]
        if not open_partitions or time.monotonic() >= deadline:
            if open_partitions:
                log.warning("transactions still open", partitions=len(open_partitions))
            return ends
        time.sleep(0.2)


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise ConfigError(f"topic {topic} does not exist (SUPPORTES_TOPIC_PREFIX)")
    return [TopicPartition(topic, p) for p in sorted(found)]


def _offsets(consumer: KafkaConsumer, tps: list[TopicPartition]) -> dict[int, int]:
    return {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}


def _read(consumer: KafkaConsumer, topic: str, ends: dict[int, int], every: int) -> list[Record]:
    """Every record ``consumer`` sees of ``topic`` below ``ends``, partition by partition."""
    records: list[Record] = []
    for partition, end in sorted(ends.items()):
        if end <= 0:
            continue
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        last_progress, position, logged = time.monotonic(), 0, len(records)
        while position < end:
            batch = consumer.poll(timeout_ms=500).get(tp, [])
            now_at = consumer.position(tp)
            if batch or now_at > position:  # markers and aborted records move it alone
                last_progress, position = time.monotonic(), now_at
            elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
                raise ConfigError(f"reading {topic}[{partition}] stalled at offset {position}")
            records.extend(
                Record(partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                for r in batch
                if r.offset < end
            )
            if len(records) - logged >= every:
                logged = len(records)
                log.info(
                    "faults check progress",
                    topic=topic,
                    partition=partition,
                    offset=position,
                    end=end,
                    records=len(records),
                )
    isolation = consumer.config["isolation_level"]
    log.info("faults check read topic", topic=topic, isolation=isolation, records=len(records))
    return records


def _index(
    settings: Settings, ends: dict[int, int]
) -> tuple[dict[int, list[IndexRow]], dict[int, int]]:
    """Index rows below the committed ends, per partition, and the recorded positions (the
    audit's own readers: :mod:`supportes.ops.audit_reading`)."""
    topic = settings.topic("events")
    conn = connect_as(settings, PgComponent.API, timeout_s=10.0)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        positions = _index_positions(conn, topic)
        rows = {p: list(_index_rows(conn, topic, p, end, None)) for p, end in ends.items()}
        conn.rollback()
    finally:
        conn.close()
    return rows, positions
