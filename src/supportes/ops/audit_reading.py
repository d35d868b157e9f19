"""Reading for ``audit verify``: the log's records and the index's rows, one partition at a time.

The log is read group-less and read_committed up to end offsets taken once; the index in one
REPEATABLE READ snapshot (shared with worker processes through an exported snapshot), so rows
and recorded positions agree. :func:`audit_partitions` runs the checks of
:mod:`supportes.ops.audit_checks` over some partitions; :func:`audit_worker` is the same in a
process of its own.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg2.extensions
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from supportes.db.connect import connect_as
from supportes.errors import ConfigError
from supportes.eventstore.index import decode_raw
from supportes.logs import configure_logging, get_logger
from supportes.messaging.clients import Component, committed_reader
from supportes.ops.audit_checks import IndexRow, LogRecord, Tally, audit_partition
from supportes.ops.prefetch import prefetched
from supportes.settings import PgComponent, Settings

log = get_logger("audit")
STALL_TIMEOUT_S = 60.0
_FETCH_ROWS = 2000
_ROW_COLUMNS = (
    "aggregate_id",
    "version",
    "aggregate_type",
    "event_id",
    "type",
    "command_id",
    "hash",
)


def log_reader(settings: Settings) -> KafkaConsumer:
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


def snapshot_ends(reader: KafkaConsumer, settings: Settings, topic: str) -> dict[int, int]:
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


def index_positions(conn: psycopg2.extensions.connection, topic: str) -> dict[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT partition, next_offset FROM event_index.log_positions WHERE topic = %s",
            (topic,),
        )
        return {int(p): int(o) for p, o in cur.fetchall()}


def index_rows(
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
    """The partition's rows in offset order, fetched ahead on a thread (:func:`prefetched`):
    PostgreSQL turns the next rows into text while this thread checks the last ones.

    The envelope comes as text for the fast decoder (:func:`_stored_envelope` re-reads it
    exactly where that could differ); PostgreSQL compares each column with the row's own
    envelope, and only the columns of a row where one differs are sent.
    """
    agree = " AND ".join(f"{c}::text IS NOT DISTINCT FROM envelope->>'{c}'" for c in _ROW_COLUMNS)
    columns = ", ".join(
        f"CASE WHEN agree THEN NULL ELSE {c}{'' if c == 'version' else '::text'} END"
        for c in _ROW_COLUMNS
    )
    query = (
        f'SELECT "offset", envelope::text, agree, {columns} FROM ('
        f"SELECT *, ({agree}) AS agree FROM event_index.events"
        ' WHERE topic = %s AND partition = %s AND "offset" < %s'
    )
    params: tuple[Any, ...] = (topic, partition, end)
    if only is not None:
        query += " AND aggregate_id = %s::uuid"
        params += (only,)
    # OFFSET 0 keeps the subquery whole: pulled up, ``agree`` would be computed once per use.
    query += ' ORDER BY "offset" OFFSET 0) AS rows ORDER BY "offset"'

    def chunks() -> Iterator[list[IndexRow]]:
        with conn.cursor(name=f"audit_rows_{partition}") as cur:
            cur.execute(query, params)
            while found := cur.fetchmany(_FETCH_ROWS):
                yield [_stored_row(partition, *values) for values in found]

    for chunk in prefetched(chunks(), name=f"audit-index-{partition}"):
        yield from chunk


def _stored_row(partition: int, offset: int, text: str, agree: bool, *values: Any) -> IndexRow:
    fast_text: str | None = text
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError:
        envelope = json.loads(text)  # what orjson refuses (lone surrogates): exact anyway
        fast_text = None
    columns = {} if agree else dict(zip(_ROW_COLUMNS, values, strict=True))
    return IndexRow(partition, int(offset), columns, envelope, columns_agree=agree, text=fast_text)


def log_records(reader: KafkaConsumer, tp: TopicPartition, end: int) -> Iterator[LogRecord]:
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


class Progress:
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


def audit_partitions(
    settings: Settings,
    reader: KafkaConsumer,
    conn: psycopg2.extensions.connection,
    ends: dict[int, int],
    positions: dict[int, int],
    *,
    only: str | None,
    progress: Progress,
) -> dict[int, Tally]:
    """Check each partition of ``ends`` (in order) up to its end offset; a tally each.

    ``conn`` must be in the REPEATABLE READ transaction ``positions`` were read in.
    """
    topic = settings.topic("events")
    key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
    tallies: dict[int, Tally] = {}
    for partition in sorted(ends):
        tally = tallies[partition] = Tally()
        records = log_records(reader, TopicPartition(topic, partition), ends[partition])
        audit_partition(
            tally,
            partition,
            progress.watch(records),
            index_rows(conn, topic, partition, ends[partition], only),
            partitions=settings.partitions,
            indexed_up_to=positions.get(partition, 0),
            key=key,
            only=only,
        )
        progress.partition_done(ends[partition])
    return tallies


def audit_worker(
    settings: Settings,
    snapshot: str,
    ends: dict[int, int],
    positions: dict[int, int],
    progress_every: int,
) -> dict[int, Tally]:
    """:func:`audit_partitions` in a process of its own, in the exported index ``snapshot``."""
    configure_logging(settings.log_level, settings.log_format)
    began = time.monotonic()
    reader = log_reader(settings)
    conn = connect_as(settings, PgComponent.API, timeout_s=10.0)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
        progress = Progress(sum(ends.values()), progress_every, began)
        tallies = audit_partitions(
            settings, reader, conn, ends, positions, only=None, progress=progress
        )
        conn.rollback()
        return tallies
    except KafkaError as exc:
        raise ConfigError(
            f"reading {settings.topic('events')} from Kafka at {settings.bootstrap_servers}"
            f" failed: {exc}"
        ) from None
    finally:
        reader.close()
        conn.close()
