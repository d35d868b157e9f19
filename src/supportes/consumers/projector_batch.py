"""One batch in PostgreSQL: a lane's projections' share of it and their offsets, one transaction.

Offsets are per projection, so one projection can be rebuilt beside the live ones (see
:mod:`supportes.ops.rebuild`): an event is applied to a projection only when its offset is at
or beyond that projection's stored offset. Each lane's transaction starts by locking its
projections' offset rows of the batch's partitions (``FOR UPDATE``, in a fixed order), which
serialises it with a rebuild's swap and with ``retry-parked``.

A batch is first applied in one piece; if a projection fails on it, the transaction is rolled
back and the batch applied again with each projection in a savepoint, the failing aggregates
parked (:mod:`supportes.consumers.projector_parking`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from supportes.consumers.ahead import OneAhead
from supportes.consumers.dependencies import dependency_of
from supportes.consumers.projector_parking import apply_isolated, apply_one, parked_aggregates
from supportes.logs import get_logger
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext, serialize

log = get_logger("projector")

Prepared = dict[int, tuple[int, object]]
"""Per projection index: how many events it prepared for, and what ``prepare`` returned."""


@dataclass
class BatchReport:
    """What one applied batch did."""

    events: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    parked: int = 0
    dead_letters: int = 0


@dataclass
class Lane:
    """Some of the projections, applied in their own transactions on their own connection
    (with ``worker``: on their own thread)."""

    indices: list[int]
    names: list[str]
    by_type: dict[str, list[int]]
    conn: psycopg2.extensions.connection
    worker: OneAhead[BatchReport] | None


class _BatchFailedError(Exception):
    """A projection failed on a batch applied in one piece (the batch is retried isolated)."""

    def __init__(self, projection: str, error: Exception) -> None:
        super().__init__(projection)
        self.projection = projection
        self.error = error


class LaneApplier:
    """Applies batches to ``projections`` in ``schema``, a lane at a time (lanes may apply
    concurrently: it holds no state of its own beyond what it is given)."""

    def __init__(
        self,
        topic: str,
        schema: str,
        projections: Sequence[Projection],
        context: ProjectionContext,
    ) -> None:
        self.topic = topic
        self.schema = schema
        self.projections = list(projections)
        self.names = [p.name for p in self.projections]
        self.context = context

    def lane(
        self,
        indices: Iterable[int],
        conn: psycopg2.extensions.connection,
        worker: OneAhead[BatchReport] | None,
    ) -> Lane:
        """The lane of the projections at ``indices``."""
        chosen = sorted(indices)
        by_type: dict[str, list[int]] = {}
        for index in chosen:
            for event_type in self.projections[index].handles:
                by_type.setdefault(event_type, []).append(index)
        return Lane(chosen, [self.names[i] for i in chosen], by_type, conn, worker)

    def apply_lane(
        self,
        lane: Lane,
        events: Sequence[LoggedEvent],
        next_offsets: dict[int, int],
        prepared: Prepared | None,
        *,
        commit: bool = True,
    ) -> BatchReport:
        """Apply ``events`` to the lane's projections and move their offsets, in one
        transaction on the lane's connection.

        A batch is first applied in one piece; if a projection fails on it, the transaction
        is rolled back and the batch applied again with each projection in a savepoint, the
        failing aggregates parked. Without ``commit`` it is applied with savepoints straight
        away.
        """
        conn = lane.conn
        try:
            try:
                report = self._apply(lane, events, next_offsets, prepared, isolate=not commit)
            except _BatchFailedError as failed:
                _roll_back(conn)
                if conn.closed:
                    raise failed.error from None
                log.warning(
                    "batch failed in one piece; applying each projection in a savepoint",
                    projection=failed.projection,
                    error=f"{type(failed.error).__name__}: {failed.error}".strip(),
                )
                report = self._apply(lane, events, next_offsets, prepared, isolate=True)
            if commit:
                conn.commit()
        except BaseException:
            _roll_back(conn)
            raise
        return report

    def _apply(
        self,
        lane: Lane,
        events: Sequence[LoggedEvent],
        next_offsets: dict[int, int],
        prepared: Prepared | None,
        *,
        isolate: bool,
    ) -> BatchReport:
        """The statements of one lane's batch, offsets included (no commit). ``isolate``:
        each projection in a savepoint, parking what fails; otherwise a failure raises
        :class:`_BatchFailedError` (saving two round trips per projection on the usual path)."""
        report = BatchReport(events=len(events))
        with lane.conn.cursor() as cur:
            stored, any_parked = begin(
                cur, self.schema, self.topic, sorted(next_offsets), lane.names
            )
            parked = (
                parked_aggregates(
                    cur, self.topic, {str(e.envelope["aggregate_id"]) for e in events}
                )
                if any_parked
                else {}
            )
            for index, mine in self._route(lane, events, stored).items():
                projection = self.projections[index]
                ahead = prepared.get(index) if prepared else None
                ready = ahead[1] if ahead is not None and ahead[0] == len(mine) else None
                waiting = parked.get(projection.name, set())
                if projection.serialized:
                    serialize(cur, projection.name)
                if isolate or waiting:
                    report.parked += apply_isolated(
                        cur,
                        self.topic,
                        self.context,
                        projection,
                        mine,
                        parked=waiting,
                        prepared=ready,
                    )
                else:
                    try:
                        apply_one(cur, projection, mine, self.context, ready)
                    except Exception as exc:
                        if dependency_of(exc) is not None:
                            raise  # an outage, not this batch's fault: nothing to isolate
                        raise _BatchFailedError(projection.name, exc) from exc
                report.applied[projection.name] = len(mine)
            store_offsets(cur, self.topic, stored, next_offsets, lane.names)
        return report

    def _route(
        self, lane: Lane, events: Sequence[LoggedEvent], stored: dict[tuple[str, int], int]
    ) -> dict[int, list[LoggedEvent]]:
        """Each of the lane's projections' share of the batch (by projection index), in log
        order, in one pass over the events: the types it handles, at or beyond its stored
        offset. Projections with no share are left out."""
        routed: dict[int, list[LoggedEvent]] = {index: [] for index in lane.indices}
        floors: dict[int, dict[int, int]] = {}  # partition -> stored offset per index
        for event in events:
            floor = floors.get(event.partition)
            if floor is None:
                floor = floors[event.partition] = {
                    index: stored.get((self.names[index], event.partition), 0)
                    for index in lane.indices
                }
            for index in lane.by_type.get(event.type, ()):
                if event.offset >= floor[index]:
                    routed[index].append(event)
        return {index: mine for index, mine in routed.items() if mine}


def _roll_back(conn: psycopg2.extensions.connection) -> None:
    """Roll back what the connection holds; a connection already lost holds nothing (the
    error that lost it is the one to raise, not the rollback's)."""
    if conn.closed:
        return
    with contextlib.suppress(psycopg2.OperationalError, psycopg2.InterfaceError):
        conn.rollback()


def begin(
    cur: psycopg2.extensions.cursor,
    schema: str,
    topic: str,
    partitions: list[int],
    names: list[str],
) -> tuple[dict[tuple[str, int], int], bool]:
    """In one round trip: set the schema, lock (creating when missing) and read the offset
    rows of these partitions, and tell whether the topic has parked events at all."""
    statements = [
        sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)).as_string(cur)
    ]
    rows = sorted((name, topic, p, 0) for name in names for p in partitions)
    if rows:
        values = ", ".join(cur.mogrify("(%s, %s, %s, %s)", row).decode() for row in rows)
        statements.append(
            "INSERT INTO offsets (projection, topic, partition, next_offset)"
            f" VALUES {values} ON CONFLICT DO NOTHING"
        )
    statements.append(
        cur.mogrify(
            "SELECT projection, partition, next_offset,"
            " EXISTS (SELECT 1 FROM parked_events WHERE topic = %s) FROM offsets"
            " WHERE topic = %s AND partition = ANY(%s) AND projection = ANY(%s)"
            " ORDER BY projection, partition FOR UPDATE",
            (topic, topic, partitions, names),
        ).decode()
    )
    cur.execute(";\n".join(statements))
    found = cur.fetchall()
    stored = {(name, partition): offset for name, partition, offset, _ in found}
    return stored, bool(found[0][3]) if found else True


def store_offsets(
    cur: psycopg2.extensions.cursor,
    topic: str,
    stored: dict[tuple[str, int], int],
    next_offsets: dict[int, int],
    names: list[str],
) -> None:
    """Move the projections' offset rows to ``next_offsets`` (never back from ``stored``)."""
    rows = [
        (name, topic, partition, max(stored.get((name, partition), 0), offset))
        for name in names
        for partition, offset in next_offsets.items()
    ]
    execute_values(
        cur,
        "UPDATE offsets AS o SET next_offset = v.next_offset, updated_at = now()"
        " FROM (VALUES %s) AS v (projection, topic, partition, next_offset)"
        " WHERE o.projection = v.projection AND o.topic = v.topic"
        " AND o.partition = v.partition",
        rows,
    )
