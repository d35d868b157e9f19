"""Projection test histories: commands through the real domain, events as the projector sees them.

:class:`History` decides command envelopes with :func:`supportes.aggregates.decide` (follow-on
commands too, right after their cause) and records each event as a :class:`LoggedEvent` on the
partition its aggregate routes to, with increasing offsets per partition (one offset skipped
after each command, as a transaction marker would). :func:`apply_all` mirrors the projector:
one transaction per batch, ``SET LOCAL search_path TO proj``, every projection given the
events it handles.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg2 import sql

from supportes.aggregates import (
    AnyAggregate,
    Rejection,
    compensations,
    decide,
    last_hash_of,
    parse_command,
)
from supportes.db.connect import connect
from supportes.messaging.routing import partition_for
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext
from supportes.projections.registry import all_projections
from tests.support.commands import T0, command

PARTITIONS = 6


class History:
    """A growing event log built by deciding commands against the real domain."""

    def __init__(self, partitions: int = PARTITIONS) -> None:
        self.partitions = partitions
        self.aggregates: dict[UUID, AnyAggregate] = {}
        self.events: list[LoggedEvent] = []
        self._next_offset: dict[int, int] = defaultdict(int)

    def run(
        self,
        type_: str,
        aggregate_id: str,
        payload: dict[str, Any] | None = None,
        *,
        minutes: float = 0,
        actor: str = "agent:maria",
    ) -> list[LoggedEvent]:
        """Decide one command issued ``minutes`` after T0; returns the events it produced."""
        return self.submit(command(type_, aggregate_id, payload, minutes=minutes, actor=actor))

    def submit(self, raw: dict[str, Any]) -> list[LoggedEvent]:
        """Decide a command envelope and its follow-ons (a rejection of ``raw`` raises; a
        rejected follow-on is compensated, as the writer does)."""
        produced: list[LoggedEvent] = []
        queue: deque[dict[str, Any]] = deque([raw])
        while queue:
            parsed = parse_command(queue.popleft())
            current = self.aggregates.get(parsed.aggregate_id)
            try:
                decision = decide(parsed, current, last_hash=last_hash_of(current))
            except Rejection as rejection:
                undo = compensations(parsed, rejection)
                if not undo:
                    raise
                queue.extend(undo)
                continue
            self.aggregates[parsed.aggregate_id] = decision.aggregate
            partition = partition_for(parsed.aggregate_id, self.partitions)
            for envelope in decision.events:
                offset = self._next_offset[partition]
                self._next_offset[partition] = offset + 1
                produced.append(LoggedEvent(envelope, partition, offset))
            self._next_offset[partition] += 1  # the transaction's commit marker
            queue.extend(decision.follow_on_commands)
        self.events.extend(produced)
        return produced


def at(minutes: float) -> datetime:
    """The instant ``minutes`` after T0 (what :meth:`History.run` issues commands at)."""
    return T0 + timedelta(minutes=minutes)


def interleave(events: Sequence[LoggedEvent], rng: random.Random) -> list[LoggedEvent]:
    """A random interleaving of the aggregates' streams, each kept in version order."""
    streams: dict[UUID, deque[LoggedEvent]] = defaultdict(deque)
    for event in events:
        streams[event.aggregate_id].append(event)
    pending = list(streams.values())
    out: list[LoggedEvent] = []
    while pending:
        weights = [len(s) for s in pending]
        index = rng.choices(range(len(pending)), weights=weights)[0]
        out.append(pending[index].popleft())
        if not pending[index]:
            pending.pop(index)
    return out


def batches(
    events: Sequence[LoggedEvent], size: int | Sequence[int]
) -> Iterator[list[LoggedEvent]]:
    """``events`` cut into batches of ``size`` (or of the sizes given, cycled)."""
    sizes = [size] if isinstance(size, int) else list(size)
    start, n = 0, 0
    while start < len(events):
        step = max(1, sizes[n % len(sizes)])
        yield list(events[start : start + step])
        start += step
        n += 1


def apply_all(
    dsn: str,
    events: Sequence[LoggedEvent],
    batch_size: int | Sequence[int] = 1000,
    *,
    context: ProjectionContext | None = None,
    projections: Iterable[Projection] | None = None,
    schema: str = "proj",
) -> None:
    """Apply ``events`` to every projection, one transaction per batch, as the projector does
    (``schema``: the live ``proj`` or a rebuild's shadow)."""
    chosen = list(projections if projections is not None else all_projections())
    ctx = context or ProjectionContext()
    conn = connect(dsn)
    try:
        for batch in batches(events, batch_size):
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
                for projection in chosen:
                    mine = [e for e in batch if e.type in projection.handles]
                    if mine:
                        projection.apply(cur, mine, ctx)
            conn.commit()
    finally:
        conn.close()


def projection_tables() -> list[str]:
    """Every table owned by a projection, in registry order."""
    return [table for p in all_projections() for table in p.tables]


def rows(dsn: str, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The result of ``query`` as dicts (time zone UTC)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(query, params)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def dump_tables(dsn: str, schema: str = "proj") -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows, sorted by all columns (to compare whole projections)."""
    conn = connect(dsn)
    try:
        dump: dict[str, list[tuple[Any, ...]]] = {}
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            for table in projection_tables():
                cur.execute(
                    sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(schema, table))
                )
                width = len(cur.description or ())
                cur.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                        sql.Identifier(schema, table),
                        sql.SQL(", ").join(sql.Literal(i) for i in range(1, width + 1)),
                    )
                )
                dump[table] = cur.fetchall()
        return dump
    finally:
        conn.close()


def clear_tables(dsn: str) -> None:
    """Empty every projection table (between examples of a property test)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier("proj", t) for t in projection_tables())
                )
            )
        conn.commit()
    finally:
        conn.close()
