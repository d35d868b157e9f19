"""Applying one projection's share of a batch in savepoints, parking what fails.

An event a projection fails to apply (a bug, or text no column can hold from a log written
before the domain refused it) is parked in ``parked_events`` with the error, together with
every later event of that aggregate for that projection; the rest of the batch goes on. A parked
event always keeps its bytes (``raw``), and its decoded ``envelope`` when ``jsonb`` can hold it,
so parking itself never fails on the event. A lost connection is not a projection failure: it
is raised as is (the projector rides the outage out), nothing is parked for it. All of these
run inside the caller's transaction, on its cursor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

import psycopg2.extensions
import psycopg2.extras
from psycopg2.extras import execute_values

from supportes.aggregates.storable import first_unstorable, scrub
from supportes.consumers.dependencies import dependency_of
from supportes.eventstore.index import raw_bytes
from supportes.logs import get_logger
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

log = get_logger("projector")


def apply_one(
    cur: psycopg2.extensions.cursor,
    projection: Projection,
    events: list[LoggedEvent],
    context: ProjectionContext,
    prepared: object | None,
) -> None:
    """Apply ``events`` to ``projection``, with what it prepared for them when given."""
    if prepared is not None:
        projection.apply_prepared(cur, events, context, prepared)
    else:
        projection.apply(cur, events, context)


def parked_aggregates(
    cur: psycopg2.extensions.cursor, topic: str, aggregate_ids: set[str]
) -> dict[str, set[UUID]]:
    """Which of these aggregates have parked events, per projection."""
    if not aggregate_ids:
        return {}
    cur.execute(
        "SELECT DISTINCT projection, aggregate_id FROM parked_events"
        " WHERE topic = %s AND aggregate_id = ANY(%s::uuid[])",
        (topic, list(aggregate_ids)),
    )
    parked: dict[str, set[UUID]] = defaultdict(set)
    for name, aggregate_id in cur.fetchall():
        parked[name].add(UUID(str(aggregate_id)))
    return parked


def apply_isolated(
    cur: psycopg2.extensions.cursor,
    topic: str,
    context: ProjectionContext,
    projection: Projection,
    events: list[LoggedEvent],
    *,
    parked: set[UUID],
    prepared: object | None = None,
) -> int:
    """Apply set-based; on failure find the failing aggregates and park them. Returns the
    number of events parked. ``parked``: aggregates that already have parked events (theirs
    are parked behind them); ``prepared``: what the projection prepared for ``events``."""
    waiting: list[LoggedEvent] = []
    ready = events
    if parked:
        waiting = [e for e in events if e.aggregate_id in parked]
        ready = [e for e in events if e.aggregate_id not in parked]
    if ready:
        cur.execute("SAVEPOINT batch")
        try:
            apply_one(
                cur, projection, ready, context, prepared if len(ready) == len(events) else None
            )
            cur.execute("RELEASE SAVEPOINT batch")
        except Exception as exc:
            if dependency_of(exc) is not None:
                raise
            cur.execute("ROLLBACK TO SAVEPOINT batch")
            waiting += apply_one_aggregate_at_a_time(cur, topic, context, projection, ready)
    if waiting:
        park(cur, topic, projection.name, waiting, "an earlier event of this aggregate is parked")
    return len(waiting)


def apply_one_aggregate_at_a_time(
    cur: psycopg2.extensions.cursor,
    topic: str,
    context: ProjectionContext,
    projection: Projection,
    events: list[LoggedEvent],
) -> list[LoggedEvent]:
    """The slow path after a failed batch: each event in its own savepoint, an aggregate's
    first failing one parked here; returns its later events, to park."""
    by_aggregate: dict[UUID, list[LoggedEvent]] = defaultdict(list)
    for event in events:
        by_aggregate[event.aggregate_id].append(event)
    to_park: list[LoggedEvent] = []
    for aggregate_events in by_aggregate.values():
        for index, event in enumerate(aggregate_events):
            cur.execute("SAVEPOINT one")
            try:
                projection.apply(cur, [event], context)
                cur.execute("RELEASE SAVEPOINT one")
            except Exception as exc:
                if dependency_of(exc) is not None:
                    raise
                cur.execute("ROLLBACK TO SAVEPOINT one")
                error = scrub(f"{type(exc).__name__}: {exc}".strip())
                log.error(
                    "event parked",
                    projection=projection.name,
                    case_id=str(event.aggregate_id),
                    version=event.version,
                    partition=event.partition,
                    offset=event.offset,
                    error=error,
                )
                park(cur, topic, projection.name, [event], error)
                to_park.extend(aggregate_events[index + 1 :])
                break
    return to_park


def park(
    cur: psycopg2.extensions.cursor,
    topic: str,
    name: str,
    events: Iterable[LoggedEvent],
    error: str,
) -> None:
    """Park ``events`` for projection ``name`` with ``error`` (each event at most once)."""
    execute_values(
        cur,
        'INSERT INTO parked_events (projection, topic, partition, "offset", aggregate_id,'
        " version, type, envelope, error, raw) VALUES %s ON CONFLICT DO NOTHING",
        [
            (
                name,
                topic,
                e.partition,
                e.offset,
                str(e.aggregate_id),
                e.version,
                scrub(e.type),
                None if first_unstorable(e.stored) else psycopg2.extras.Json(dict(e.stored)),
                scrub(error[:2000]),
                psycopg2.Binary(raw_bytes(e.stored)),
            )
            for e in events
        ],
    )
