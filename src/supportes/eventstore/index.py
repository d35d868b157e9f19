"""The event index in PostgreSQL (schema ``event_index``), written after each Kafka commit.

It holds every committed event with its partition and offset (primary key
``(aggregate_id, version)``), the results of processed commands (idempotency), and the next offset
to index per log partition. Every write is idempotent (``ON CONFLICT DO NOTHING``, positions only
move forward), so re-indexing a stretch of the log after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple
from uuid import UUID

import psycopg2.extensions
from psycopg2.extras import execute_values

from supportes import fastjson
from supportes.db.connect import connect


class IndexedEvent(NamedTuple):
    """An event envelope and where it sits in the log (a named tuple: the writer makes
    thousands per batch)."""

    envelope: Mapping[str, Any]
    topic: str
    partition: int
    offset: int


class ProcessedCommand(NamedTuple):
    """The first result given to a command, and where that result sits in the log."""

    command_id: str
    topic: str
    partition: int
    result: Mapping[str, Any]
    results_offset: int


class EventIndex:
    """Reads and writes of ``event_index.*`` over one psycopg2 connection (not thread-safe)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg2.extensions.connection = self._open()

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
        self._conn.close()

    def reconnect(self) -> None:
        """Replace a broken connection."""
        try:
            self._conn.close()
        finally:
            self._conn = self._open()

    def envelopes_of(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """Stored envelopes per aggregate, in version order (ids with no events are absent)."""
        ids = [str(i) for i in aggregate_ids]
        found: dict[UUID, list[dict[str, Any]]] = {}
        if not ids:
            return found
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT aggregate_id, envelope FROM event_index.events"
                " WHERE aggregate_id = ANY(%s::uuid[]) ORDER BY aggregate_id, version",
                (ids,),
            )
            for aggregate_id, envelope in cur:
                found.setdefault(UUID(str(aggregate_id)), []).append(envelope)
        self._conn.commit()
        return found

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
        """Index a committed stretch of the log in one transaction; return events newly added."""
        added = 0
        try:
            with self._conn.cursor() as cur:
                if events:
                    added = self._insert_events(cur, events)
                if processed:
                    self._insert_processed(cur, processed)
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
            self._conn.rollback()
            raise
        return added

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
    ) -> None:
        rows = fastjson.dumps_text(
            [[c.command_id, c.topic, c.partition, c.results_offset, dict(c.result)]
             for c in processed]
        )  # fmt: skip
        cur.execute(
            "INSERT INTO event_index.processed_commands"
            " (command_id, topic, partition, status, result, results_offset)"
            " SELECT (r->>0)::uuid, r->>1, (r->>2)::integer, r->4->>'status', r->4,"
            " (r->>3)::bigint FROM jsonb_array_elements(%s::jsonb) AS rows (r)"
            " ON CONFLICT DO NOTHING",
            (rows,),
        )

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
