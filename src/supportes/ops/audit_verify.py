"""``audit verify``: re-read the events log and check every hash chain and the event index.

The log (``<prefix>.events``, every partition, read_committed) is read from offset 0 to the end
offsets taken when the run starts; the index is read in one REPEATABLE READ snapshot, so rows
and recorded positions agree. The checks themselves live in :mod:`supportes.ops.audit_checks`.
With ``case_id`` only that aggregate (case or root cause) is checked: its partition
(``partition_for``) is read from offset 0 - the log is never skipped on the index's word.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from supportes.db.connect import connect_as
from supportes.errors import ConfigError, UsageError
from supportes.eventstore.index import decode_raw
from supportes.logs import get_logger
from supportes.messaging.clients import Component, committed_reader
from supportes.messaging.routing import partition_for
from supportes.ops.audit_checks import (
    CHECKS,
    CheckCount,
    Failure,
    IndexRow,
    LogRecord,
    Tally,
    audit_partition,
)
from supportes.settings import PgComponent, Settings
from supportes.stack.kafka_admin import require_broker

log = get_logger("audit")
STALL_TIMEOUT_S = 60.0
_ROW_COLUMNS = (
    "aggregate_id",
    "version",
    "aggregate_type",
    "event_id",
    "type",
    "command_id",
    "hash",
)


@dataclass(frozen=True)
class AuditReport:
    """What ``audit verify`` found. ``failures`` lists the first ones in log order."""

    case_id: str | None
    topic: str
    partitions: list[int]
    aggregates: dict[str, int]
    events: int
    index_rows: int
    unindexed: int
    checks: dict[str, CheckCount]
    failures: list[Failure]
    failures_total: int
    seconds: float
    end_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.failures_total == 0

    @property
    def first_failure(self) -> Failure | None:
        """The failure at the lowest log position (partition, offset), if any."""
        return min(self.failures, key=lambda f: f.position) if self.failures else None

    @property
    def events_per_second(self) -> float:
        """Verification speed."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the shape of ``audit verify --json``)."""
        first = self.first_failure
        return {
            "ok": self.ok,
            "case_id": self.case_id,
            "topic": self.topic,
            "partitions": self.partitions,
            "end_offsets": {str(p): o for p, o in sorted(self.end_offsets.items())},
            "aggregates": self.aggregates,
            "events": self.events,
            "index_rows": self.index_rows,
            "unindexed": self.unindexed,
            "checks": {
                name: {"checked": c.checked, "failed": c.failed} for name, c in self.checks.items()
            },
            "failures_total": self.failures_total,
            "first_failure": first.as_dict() if first else None,
            "failures": [f.as_dict() for f in self.failures],
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
        }


def parse_aggregate_id(text: str) -> str:
    """The canonical form of a case or root cause id; UsageError when it is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise UsageError(f"not a case or root cause id (a UUID): {text!r}") from None


def verify_audit(
    settings: Settings, case_id: str | None = None, *, progress_every: int = 20_000
) -> AuditReport:
    """Verify the whole log (or one aggregate's) against its hash chains and the index.

    Raises ConfigError when Kafka or PostgreSQL cannot be used, UsageError for a ``case_id``
    that is malformed or has no events on the log nor in the index.
    """
    only = parse_aggregate_id(case_id) if case_id is not None else None
    began = time.monotonic()
    require_broker(settings, Component.AUDITOR)
    topic = settings.topic("events")
    key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
    reader = _reader(settings)
    conn = connect_as(settings, PgComponent.API, timeout_s=10.0)
    try:
        ends = _snapshot_ends(reader, settings, topic)
        wanted = [partition_for(only, settings.partitions)] if only else sorted(ends)
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        positions = _index_positions(conn, topic)
        tally = Tally()
        progress = _Progress(sum(ends[p] for p in wanted), progress_every, began)
        for partition in wanted:
            records = _log_records(reader, TopicPartition(topic, partition), ends[partition])
            audit_partition(
                tally,
                partition,
                progress.watch(records),
                _index_rows(conn, topic, partition, ends[partition], only),
                partitions=settings.partitions,
                indexed_up_to=positions.get(partition, 0),
                key=key,
                only=only,
            )
            progress.partition_done(ends[partition])
        conn.rollback()
    except KafkaError as exc:
        raise ConfigError(
            f"reading {topic} from Kafka at {settings.bootstrap_servers} failed: {exc}"
        ) from None
    finally:
        reader.close()
        conn.close()
    if only is not None and tally.events == 0 and tally.index_rows == 0:
        raise UsageError(f"unknown case {only}: no events on the log or in the index")
    report = _report(
        tally,
        only=only,
        topic=topic,
        partitions=wanted,
        ends=ends,
        seconds=time.monotonic() - began,
    )
    log.info(
        "audit verify finished",
        ok=report.ok,
        events=report.events,
        failures=report.failures_total,
        seconds=round(report.seconds, 2),
        events_per_second=round(report.events_per_second),
    )
    return report


def _report(
    tally: Tally,
    *,
    only: str | None,
    topic: str,
    partitions: list[int],
    ends: dict[int, int],
    seconds: float,
) -> AuditReport:
    types = list(tally.aggregates.values())
    return AuditReport(
        case_id=only,
        topic=topic,
        partitions=partitions,
        aggregates={
            "total": len(types),
            "cases": types.count("Case"),
            "root_causes": types.count("RootCause"),
        },
        events=tally.events,
        index_rows=tally.index_rows,
        unindexed=tally.unindexed,
        checks={name: tally.checks[name] for name in CHECKS},
        failures=tally.failures,
        failures_total=tally.failures_total,
        seconds=seconds,
        end_offsets={p: ends[p] for p in partitions},
    )


def _reader(settings: Settings) -> KafkaConsumer:
    try:
        # An auditor's read must never create the topic it audits.
        return committed_reader(
            settings,
            Component.AUDITOR,
            client_id="supportes-audit",
            allow_auto_create_topics=False,
        )
    except KafkaError as exc:
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} (SUPPORTES_KAFKA_BOOTSTRAP): {exc}"
        ) from None


def _snapshot_ends(reader: KafkaConsumer, settings: Settings, topic: str) -> dict[int, int]:
    """End offsets (last stable offsets) of every partition of ``topic``, taken once."""
    found = reader.partitions_for_topic(topic)
    if not found:
        raise ConfigError(f"topic {topic} does not exist (SUPPORTES_TOPIC_PREFIX)")
    if len(found) != settings.partitions:
        raise ConfigError(
            f"topic {topic} has {len(found)} partitions, SUPPORTES_PARTITIONS says "
            f"{settings.partitions}: events would be routed elsewhere"
        )
    tps = [TopicPartition(topic, p) for p in sorted(found)]
    return {tp.partition: int(offset) for tp, offset in reader.end_offsets(tps).items()}


def _index_positions(conn: psycopg2.extensions.connection, topic: str) -> dict[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT partition, next_offset FROM event_index.log_positions WHERE topic = %s",
            (topic,),
        )
        return {int(p): int(o) for p, o in cur.fetchall()}


def _index_rows(
    conn: psycopg2.extensions.connection, topic: str, partition: int, end: int, only: str | None
) -> Iterator[IndexRow]:
    """Index rows of one partition below ``end``, in offset order (a server-side cursor), the
    events the index keeps as raw bytes (``parked_records``) merged in at their offsets."""
    parked = _parked_rows(conn, topic, partition, end, only)
    rows = _stored_rows(conn, topic, partition, end, only)
    yield from heapq.merge(rows, parked, key=lambda row: row.offset) if parked else rows


def _parked_rows(
    conn: psycopg2.extensions.connection, topic: str, partition: int, end: int, only: str | None
) -> list[IndexRow]:
    query = (
        'SELECT "offset", raw FROM event_index.parked_records WHERE kind = %s AND topic = %s'
        ' AND partition = %s AND "offset" < %s'
    )
    params: tuple[Any, ...] = ("event", topic, partition, end)
    if only is not None:
        query += " AND aggregate_id = %s::uuid"
        params += (only,)
    with conn.cursor() as cur:
        cur.execute(query + ' ORDER BY "offset"', params)
        found = cur.fetchall()
    rows = []
    for offset, raw in found:
        envelope = decode_raw(raw)
        columns = {
            c: envelope.get(c) if c == "version" else _text(envelope.get(c)) for c in _ROW_COLUMNS
        }
        rows.append(IndexRow(partition, int(offset), columns, envelope))
    return rows


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _stored_rows(
    conn: psycopg2.extensions.connection, topic: str, partition: int, end: int, only: str | None
) -> Iterator[IndexRow]:
    columns = ", ".join(f"{c}::text" if c != "version" else c for c in _ROW_COLUMNS)
    query = (
        f'SELECT "offset", envelope, {columns} FROM event_index.events'
        ' WHERE topic = %s AND partition = %s AND "offset" < %s'
    )
    params: tuple[Any, ...] = (topic, partition, end)
    if only is not None:
        query += " AND aggregate_id = %s::uuid"
        params += (only,)
    with conn.cursor(name=f"audit_rows_{partition}") as cur:
        cur.itersize = 2000
        cur.execute(query + ' ORDER BY "offset"', params)
        for offset, envelope, *values in cur:
            yield IndexRow(
                partition, int(offset), dict(zip(_ROW_COLUMNS, values, strict=True)), envelope
            )


def _log_records(reader: KafkaConsumer, tp: TopicPartition, end: int) -> Iterator[LogRecord]:
    """Committed records of ``tp`` from offset 0 up to ``end``; fails when reads stall."""
    if end <= 0:
        return
    reader.assign([tp])
    reader.seek(tp, 0)
    last_progress, position = time.monotonic(), 0
    while position < end:
        batch = reader.poll(timeout_ms=500).get(tp, [])
        now_at = reader.position(tp)
        if batch or now_at > position:  # aborted records and markers move it with no records
            last_progress, position = time.monotonic(), now_at
        elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
            raise ConfigError(
                f"reading {tp.topic}[{tp.partition}] stalled at offset {position} "
                f"(end {end}) for {STALL_TIMEOUT_S:g}s"
            )
        for record in batch:
            if record.offset < end:
                yield LogRecord(tp.partition, record.offset, record.key, record.value)


class _Progress:
    """Logs events/s and percent every ``every`` records."""

    def __init__(self, total_offsets: int, every: int, began: float) -> None:
        self.total = max(1, total_offsets)
        self.every = max(1, every)
        self.began = began
        self.done_offsets = 0
        self.records = 0

    def watch(self, records: Iterator[LogRecord]) -> Iterator[LogRecord]:
        for record in records:
            self.records += 1
            if self.records % self.every == 0:
                elapsed = max(1e-9, time.monotonic() - self.began)
                percent = 100.0 * min(1.0, (self.done_offsets + record.offset + 1) / self.total)
                log.info(
                    "audit verify progress",
                    events=self.records,
                    partition=record.partition,
                    percent=round(percent, 1),
                    events_per_second=round(self.records / elapsed),
                )
            yield record

    def partition_done(self, end: int) -> None:
        self.done_offsets += end
