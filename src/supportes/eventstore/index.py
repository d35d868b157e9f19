"""The event index in PostgreSQL (schema ``event_index``), written after each Kafka commit.

It holds every committed event with its partition and offset (primary key
``(aggregate_id, version)``), the results of processed commands (idempotency, with the digest of
each command as first submitted), and the next offset to index per log partition. Every write is
idempotent (``ON CONFLICT DO NOTHING``, positions only move forward), so re-indexing a stretch of
the log after a crash is harmless.

A record that ``jsonb`` cannot hold (U+0000 or an unpaired surrogate, from a log written before
the domain refused them, or a future bug) never stops the index: it is kept in
``event_index.parked_records`` as its raw bytes, and reads (:meth:`EventIndex.envelopes_of`,
:meth:`EventIndex.answers`) decode it from there, so its aggregate goes on working.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple
from uuid import UUID

import psycopg2
import psycopg2.extensions
from psycopg2.extras import execute_values

from supportes import fastjson
from supportes.aggregates.storable import describe, first_unstorable
from supportes.db.connect import connect, first_line
from supportes.logs import get_logger

log = get_logger("event_index")


class IndexedEvent(NamedTuple):
    """An event envelope and where it sits in the log (a named tuple: the writer makes
    thousands per batch)."""

    envelope: Mapping[str, Any]
    topic: str
    partition: int
    offset: int
    raw: bytes | None = None
    """The record's bytes as on the log, when at hand (kept if ``jsonb`` refuses the envelope)."""


class ProcessedCommand(NamedTuple):
    """The first result given to a command, and where that result sits in the log."""

    command_id: str
    topic: str
    partition: int
    result: Mapping[str, Any]
    results_offset: int
    digest: str | None = None
    """:func:`~supportes.consumers.records.command_digest` of the command first answered."""
    raw: bytes | None = None


class Answer(NamedTuple):
    """A processed command's first result and the digest of the command it answered (None
    for commands answered before digests were kept)."""

    result: dict[str, Any]
    digest: str | None


class EventIndex:
    """Reads and writes of ``event_index.*`` over one psycopg2 connection (not thread-safe)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: psycopg2.extensions.connection | None = self._open()

    @property
    def _conn(self) -> psycopg2.extensions.connection:
        """The connection, opened again when it was lost (after :meth:`reconnect` or a server
        restart): every use after an outage starts from a fresh one."""
        if self._connection is None or self._connection.closed:
            self._connection = None
            self._connection = self._open()
        return self._connection

    def _open(self) -> psycopg2.extensions.connection:
        conn = connect(self._dsn)
        # The index is derived from the log: after any PostgreSQL failure the writer re-indexes
        # from its stored log positions, so waiting for the WAL flush on each commit buys nothing.
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        conn.commit()
        return conn

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def reconnect(self) -> None:
        """Drop the connection (it may be broken); the next use opens a new one."""
        with contextlib.suppress(psycopg2.Error):
            self.close()
        self._connection = None

    def envelopes_of(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """Stored envelopes per aggregate, in version order (ids with no events are absent)."""
        ids = [str(i) for i in aggregate_ids]
        found: dict[UUID, list[dict[str, Any]]] = {}
        if not ids:
            return found
        with self._conn.cursor() as cur:
            cur.execute(  # one round trip: the prefetch runs it every cycle
                "SELECT aggregate_id, version, envelope, NULL::bytea FROM event_index.events"
                " WHERE aggregate_id = ANY(%s::uuid[]) UNION ALL"
                " SELECT aggregate_id, version, NULL, raw FROM event_index.parked_records"
                " WHERE kind = 'event' AND aggregate_id = ANY(%s::uuid[])"
                " ORDER BY 1, 2",
                (ids, ids),
            )
            for aggregate_id, _version, envelope, raw in cur:
                found.setdefault(UUID(str(aggregate_id)), []).append(
                    envelope if raw is None else decode_raw(raw)
                )
        self._conn.commit()
        return found

    def erased_subjects(self, subjects: Iterable[str]) -> set[str]:
        """Which of ``subjects`` (customer ids) were erased (``privacy.erased_subjects``, the
        one privacy table the writer's role may read): the writer refuses their personal data."""
        wanted = sorted(set(subjects))
        if not wanted:
            return set()
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT subject FROM privacy.erased_subjects WHERE subject = ANY(%s::text[])",
                (wanted,),
            )
            found = {str(subject) for (subject,) in cur}
        self._conn.commit()
        return found

    def answers(self, command_ids: Iterable[str]) -> dict[str, Answer]:
        """First results, with digests, of the given command ids that were already processed."""
        ids = list(command_ids)
        if not ids:
            return {}
        with self._conn.cursor() as cur:
            cur.execute(  # one round trip: the prefetch runs it every cycle
                "SELECT command_id::text, result, digest, NULL::bytea"
                " FROM event_index.processed_commands WHERE command_id = ANY(%s::uuid[])"
                " UNION ALL SELECT command_id::text, NULL, NULL, raw"
                " FROM event_index.parked_records WHERE kind = 'result'"
                " AND command_id = ANY(%s::uuid[])",
                (ids, ids),
            )
            rows: dict[str, Answer] = {}
            for command_id, result, digest, raw in cur:
                if raw is None:
                    rows[command_id] = Answer(result, digest)
                else:
                    rows.setdefault(command_id, Answer(decode_raw(raw), None))
        self._conn.commit()
        return rows

    def processed(self, command_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """First results of the given command ids that were already processed."""
        ids = list(command_ids)
        if not ids:
            return {}
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT command_id::text, result FROM event_index.processed_commands"
                " WHERE command_id = ANY(%s::uuid[])",
                (ids,),
            )
            rows: dict[str, dict[str, Any]] = dict(cur)
        self._conn.commit()
        return rows

    def position(self, topic: str, partition: int) -> int:
        """Next offset of ``topic[partition]`` to index (0 when nothing was indexed)."""
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT next_offset FROM event_index.log_positions"
                " WHERE topic = %s AND partition = %s",
                (topic, partition),
            )
            row = cur.fetchone()
        self._conn.commit()
        return int(row[0]) if row else 0

    def record(
        self,
        events: Sequence[IndexedEvent],
        processed: Sequence[ProcessedCommand],
        positions: Mapping[tuple[str, int], int],
    ) -> int:
        """Index a committed stretch of the log in one transaction; return events newly added.

        Set-based on the usual path; when PostgreSQL refuses the data (``DataError``), the same
        transaction is written again with what ``jsonb`` cannot hold parked as raw bytes."""
        try:
            return self._record(events, processed, positions, sort_out=False)
        except psycopg2.DataError as exc:
            log.warning(
                "index refused a batch; parking what it cannot hold",
                events=len(events),
                results=len(processed),
                error=first_line(exc),
            )
        return self._record(events, processed, positions, sort_out=True)

    def _record(
        self,
        events: Sequence[IndexedEvent],
        processed: Sequence[ProcessedCommand],
        positions: Mapping[tuple[str, int], int],
        *,
        sort_out: bool,
    ) -> int:
        added = 0
        try:
            with self._conn.cursor() as cur:
                if sort_out:
                    events, processed = self._park_unstorable(cur, events, processed)
                if events:
                    added = self._insert_rows(cur, events, self._insert_events, sort_out)
                if processed:
                    self._insert_rows(cur, processed, self._insert_processed, sort_out)
                if positions:
                    execute_values(
                        cur,
                        "INSERT INTO event_index.log_positions AS p (topic, partition, next_offset)"
                        " VALUES %s ON CONFLICT (topic, partition) DO UPDATE SET"
                        " next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset),"
                        " updated_at = now()",
                        [(t, part, off) for (t, part), off in positions.items()],
                    )
            self._conn.commit()
        except BaseException:
            if self._connection is not None and not self._connection.closed:
                with contextlib.suppress(psycopg2.Error):
                    self._connection.rollback()
            raise
        return added

    def _park_unstorable(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[IndexedEvent],
        processed: Sequence[ProcessedCommand],
    ) -> tuple[list[IndexedEvent], list[ProcessedCommand]]:
        """Park the rows with a string no store can hold; return the others."""
        kept_events: list[IndexedEvent] = []
        kept_processed: list[ProcessedCommand] = []
        for event in events:
            found = first_unstorable(event.envelope)
            if found is None:
                kept_events.append(event)
            else:
                self._park(cur, event, f"{found[0]}: {describe(found[1])}")
        for command in processed:
            found = first_unstorable(command.result)
            if found is None:
                kept_processed.append(command)
            else:
                self._park(cur, command, f"{found[0]}: {describe(found[1])}")
        return kept_events, kept_processed

    def _insert_rows(
        self,
        cur: psycopg2.extensions.cursor,
        rows: Sequence[Any],
        insert: Any,
        one_by_one_on_failure: bool,
    ) -> int:
        """``insert`` all rows; when sorting out and that fails anyway (a cause nobody
        foresaw), row by row, parking each one PostgreSQL refuses."""
        if not one_by_one_on_failure:
            return int(insert(cur, rows))
        cur.execute("SAVEPOINT rows")
        try:
            added = int(insert(cur, rows))
            cur.execute("RELEASE SAVEPOINT rows")
            return added
        except psycopg2.DataError:
            cur.execute("ROLLBACK TO SAVEPOINT rows")
        added = 0
        for row in rows:
            cur.execute("SAVEPOINT row")
            try:
                added += int(insert(cur, [row]))
                cur.execute("RELEASE SAVEPOINT row")
            except psycopg2.DataError as exc:
                cur.execute("ROLLBACK TO SAVEPOINT row")
                self._park(cur, row, first_line(exc))
        return added

    @staticmethod
    def _park(
        cur: psycopg2.extensions.cursor, row: IndexedEvent | ProcessedCommand, reason: str
    ) -> None:
        values: tuple[Any, ...]
        if isinstance(row, IndexedEvent):
            values = (
                row.topic,
                row.partition,
                row.offset,
                "event",
                _uuid_or_none(row.envelope.get("aggregate_id")),
                _int_or_none(row.envelope.get("version")),
                None,
                row.raw if row.raw is not None else raw_bytes(row.envelope),
            )
            where = {"aggregate_id": values[4], "version": values[5]}
        else:
            values = (
                row.topic,
                row.partition,
                row.results_offset,
                "result",
                None,
                None,
                _uuid_or_none(row.command_id),
                row.raw if row.raw is not None else raw_bytes(row.result),
            )
            where = {"command_id": values[6]}
        cur.execute(
            'INSERT INTO event_index.parked_records (topic, partition, "offset", kind,'
            " aggregate_id, version, command_id, raw, reason) VALUES (%s, %s, %s, %s, %s, %s, %s,"
            " %s, %s) ON CONFLICT DO NOTHING",
            (*values[:7], psycopg2.Binary(values[7]), reason[:2000]),
        )
        log.error(
            "record parked in the index (kept as raw bytes)",
            topic=row.topic,
            partition=row.partition,
            offset=values[2],
            kind=values[3],
            reason=reason,
            **{k: v for k, v in where.items() if v is not None},
        )

    def parked_count(self) -> int:
        """How many log records the index keeps as raw bytes."""
        with self._conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM event_index.parked_records")
            row = cur.fetchone()
        self._conn.commit()
        return int(row[0]) if row else 0

    @staticmethod
    def _insert_events(cur: psycopg2.extensions.cursor, events: Sequence[IndexedEvent]) -> int:
        """One set-based insert from one JSON document: PostgreSQL (on its own core) takes the
        columns apart, the writer's Python only serialises the envelopes it already holds."""
        rows = fastjson.dumps_text(
            [[e.topic, e.partition, e.offset, dict(e.envelope)] for e in events]
        )
        cur.execute(
            "INSERT INTO event_index.events (aggregate_id, version, aggregate_type, event_id,"
            ' type, occurred_at, command_id, topic, partition, "offset", hash, envelope)'
            " SELECT (e->>'aggregate_id')::uuid, (e->>'version')::integer, e->>'aggregate_type',"
            " (e->>'event_id')::uuid, e->>'type', (e->>'occurred_at')::timestamptz,"
            " (e->>'command_id')::uuid, r->>0, (r->>1)::integer, (r->>2)::bigint, e->>'hash', e"
            " FROM jsonb_array_elements(%s::jsonb) AS rows (r), LATERAL (SELECT r->3 AS e) AS x"
            " ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            (rows,),
        )
        return int(cur.rowcount)

    @staticmethod
    def _insert_processed(
        cur: psycopg2.extensions.cursor, processed: Sequence[ProcessedCommand]
    ) -> int:
        rows = fastjson.dumps_text(
            [[c.command_id, c.topic, c.partition, c.results_offset, dict(c.result), c.digest]
             for c in processed]
        )  # fmt: skip
        cur.execute(
            "INSERT INTO event_index.processed_commands"
            " (command_id, topic, partition, status, result, results_offset, digest)"
            " SELECT (r->>0)::uuid, r->>1, (r->>2)::integer, r->4->>'status', r->4,"
            " (r->>3)::bigint, r->>5 FROM jsonb_array_elements(%s::jsonb) AS rows (r)"
            " ON CONFLICT DO NOTHING",
            (rows,),
        )
        return int(cur.rowcount)

    def prune_processed(self, older_than: timedelta) -> int:
        """Forget processed command ids older than ``older_than`` (the commands' retention)."""
        with self._conn.cursor() as cur:
            cur.execute(
                "DELETE FROM event_index.processed_commands WHERE processed_at < now() - %s",
                (older_than,),
            )
            deleted = cur.rowcount
        self._conn.commit()
        return int(deleted)


def raw_bytes(value: Any) -> bytes:
    """A decoded value back as JSON bytes that any byte store holds (lone surrogates escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def decode_raw(raw: bytes | memoryview) -> dict[str, Any]:
    """A parked record's bytes as JSON (the standard library reads lone surrogate escapes)."""
    value: dict[str, Any] = json.loads(bytes(raw))
    return value


def _uuid_or_none(value: object) -> str | None:
    try:
        return str(UUID(str(value)))
    except ValueError:
        return None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
