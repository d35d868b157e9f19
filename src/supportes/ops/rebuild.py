"""Rebuilding projections from offset 0 beside the live tables, then swapping atomically.

1. Create a shadow schema with empty copies of the projections' tables (``LIKE ... INCLUDING
   ALL``, and the live tables' grants) and of ``offsets``/``parked_events``.
2. Replay the events topic from offset 0 into the shadow with a group-less projector, showing
   progress (events/s, percent, ETA). The live tables keep serving and the live projector keeps
   projecting meanwhile. With ``workers`` > 1, that many processes replay disjoint sets of
   partitions into the one shadow first (partition ``p`` to worker ``p % workers``), each to
   the end offsets as they were at the start; a projection that reads across partitions takes
   its advisory lock (``Projection.serialized``), as two live projectors do.
3. Swap, in ONE transaction: lock the live offset rows of the rebuilt projections (this waits
   for the live projector's batch in flight and holds its next one), apply what arrived since
   step 2 to the shadow, drop the live tables and move the shadow tables into ``proj``, carry
   the shadow's offsets and parked events over. Readers see the old
   tables or the new ones, never an empty or half-built table; the live projector carries on
   from the shadow's offsets for the rebuilt projections.

A rebuild does DDL (a schema, tables dropped and moved), so it runs as the owner
(``settings.dsn``), not as the live projector's role, which may only read and write rows.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from kafka import TopicPartition
from psycopg2 import sql

from supportes.consumers.projector import LIVE_SCHEMA, Projector
from supportes.db.privileges import copy_table_privileges
from supportes.errors import UsageError
from supportes.logs import configure_logging, get_logger
from supportes.ops.projection_status import end_offsets
from supportes.projections.base import Projection
from supportes.projections.registry import all_projections
from supportes.settings import Settings

log = get_logger("rebuild")
BOOKKEEPING = ("offsets", "parked_events")


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    projections: list[str]
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Replay speed."""
        return self.events / self.seconds if self.seconds else 0.0


def select_projections(names: Sequence[str] | None) -> list[Projection]:
    """The named projections (all when ``names`` is empty); unknown names are a UsageError."""
    projections = all_projections()
    if not names:
        return projections
    known = {p.name: p for p in projections}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"unknown projection {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return [known[n] for n in names]


def rebuild(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    workers: int = 1,
    progress_every_s: float = 2.0,
) -> RebuildReport:
    """Rebuild the named projections (all by default) from the log and swap them in; with
    ``workers`` > 1, the replay runs in that many processes over disjoint partitions."""
    if not 1 <= workers <= settings.partitions:
        raise UsageError(
            f"--workers {workers}: from 1 to the number of partitions ({settings.partitions})"
        )
    projections = select_projections(names)
    shadow = f"proj_rebuild_{uuid.uuid4().hex[:10]}"
    began = time.monotonic()
    projector = Projector(
        _as_owner(settings),  # DDL: the owner
        group_id=None,
        projections=projections,
        schema=shadow,
        partitions=range(settings.partitions),
    )
    try:
        _create_shadow(projector, projections, shadow)
        events = 0
        if workers > 1:
            events += _replay_in_workers(projector, settings, workers, progress_every_s)
        events += _replay(projector, settings, progress_every_s)  # the rest, from the shadow
        events += _swap(projector, projections, shadow, settings)
    except BaseException:
        projector.stop_worker()
        projector.conn.rollback()
        _drop_shadow(projector, shadow)
        raise
    finally:
        projector.close()
    report = RebuildReport([p.name for p in projections], events, time.monotonic() - began)
    log.info(
        "rebuild swapped in",
        workers=workers,
        projections=report.projections,
        events=report.events,
        seconds=round(report.seconds, 1),
        events_per_second=round(report.events_per_second),
    )
    return report


def _as_owner(settings: Settings) -> Settings:
    return settings.model_copy(update={"pg_projector_dsn": settings.dsn})


def _replay_in_workers(
    projector: Projector, settings: Settings, workers: int, progress_every_s: float
) -> int:
    """Replay every partition up to its end offset now, partition ``p`` in worker
    ``p % workers`` (a process each), into the projector's shadow; progress from the shadow's
    offsets. The first worker's failure is raised (after the others have finished)."""
    targets = end_offsets(settings)
    total = max(1, sum(targets.values()))
    groups = [[p for p in sorted(targets) if p % workers == w] for w in range(workers)]
    began = time.monotonic()
    names = list(projector.names)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: list[Future[int]] = [
            pool.submit(
                replay_partitions,
                settings,
                names,
                projector.schema,
                {p: targets[p] for p in group},
            )
            for group in groups
        ]
        pending: set[Future[int]] = set(futures)
        while pending:
            done, pending = wait(pending, timeout=progress_every_s, return_when=FIRST_EXCEPTION)
            for finished in done:
                finished.result()  # a worker's error, raised here
            position = _shadow_position(projector, targets)
            rate = position / max(1e-9, time.monotonic() - began)
            log.info(
                "rebuild progress",
                workers=workers,
                events=position,
                events_per_second=round(rate),
                percent=round(100 * position / total, 1),
                eta_s=round((total - position) / rate, 1) if rate else None,
            )
    return sum(future.result() for future in futures)


def _shadow_position(projector: Projector, targets: dict[int, int]) -> int:
    """How far the shadow is, summed over partitions (the slowest projection of each)."""
    with projector.conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT partition, min(next_offset) FROM {} WHERE topic = %s"
                " AND projection = ANY(%s) GROUP BY partition"
            ).format(sql.Identifier(projector.schema, "offsets")),
            (projector.topic, list(projector.names)),
        )
        rows = cur.fetchall()
    projector.conn.commit()
    return sum(min(int(offset), targets.get(int(partition), 0)) for partition, offset in rows)


def replay_partitions(
    settings: Settings, names: Sequence[str], schema: str, targets: dict[int, int]
) -> int:
    """One rebuild worker (a process of its own): replay the ``targets``' partitions up to
    their end offsets into the shadow ``schema``; the number of events applied."""
    configure_logging(settings.log_level, settings.log_format)
    projector = Projector(
        _as_owner(settings),
        group_id=None,
        projections=select_projections(names),
        schema=schema,
        partitions=sorted(targets),
    )
    try:
        done = 0
        while not _caught_up(projector, targets):
            done += projector.run_ahead(200).events
        done += projector.finish_in_flight().events
        log.info("rebuild worker done", partitions=sorted(targets), events=done)
        return done
    finally:
        projector.close()


def _tables(projections: Sequence[Projection]) -> list[str]:
    return [table for p in projections for table in p.tables]


def _create_shadow(projector: Projector, projections: Sequence[Projection], shadow: str) -> None:
    with projector.conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(shadow)))
        for table in [*_tables(projections), *BOOKKEEPING]:
            live, copy = sql.Identifier(LIVE_SCHEMA, table), sql.Identifier(shadow, table)
            cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy, live))
            copy_table_privileges(cur, live, copy)
    projector.conn.commit()


def _drop_shadow(projector: Projector, shadow: str) -> None:
    try:
        with projector.conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(shadow)))
        projector.conn.commit()
    except Exception as exc:  # best effort: a leftover shadow schema is harmless
        log.warning("could not drop shadow schema", schema=shadow, error=str(exc))


def _caught_up(projector: Projector, targets: dict[int, int]) -> bool:
    consumer = projector.consumer
    return all(
        consumer.position(TopicPartition(projector.topic, p)) >= end for p, end in targets.items()
    )


def _replay(projector: Projector, settings: Settings, progress_every_s: float) -> int:
    """Replay up to the end offsets as they are now; log progress with rate and ETA."""
    targets = end_offsets(settings)
    total = max(1, sum(targets.values()))
    done = 0
    began = last = time.monotonic()
    while not _caught_up(projector, targets):
        done += projector.run_ahead(200).events
        now = time.monotonic()
        if now - last >= progress_every_s:
            last = now
            rate = done / (now - began)
            position = sum(
                min(end, projector.consumer.position(TopicPartition(projector.topic, p)))
                for p, end in targets.items()
            )
            log.info(
                "rebuild progress",
                events=done,
                events_per_second=round(rate),
                percent=round(100 * position / total, 1),
                eta_s=round((total - position) / rate, 1) if rate else None,
            )
    return done + projector.finish_in_flight().events


def _swap(
    projector: Projector, projections: Sequence[Projection], shadow: str, settings: Settings
) -> int:
    """The atomic part: final catch-up and table swap in one transaction."""
    conn = projector.conn
    names = [p.name for p in projections]
    topic = projector.topic
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO proj.offsets (projection, topic, partition, next_offset)"
            " SELECT n, %s, p, 0 FROM unnest(%s::text[]) AS n, generate_series(0, %s - 1) AS p"
            " ORDER BY n, p ON CONFLICT DO NOTHING",
            (topic, names, settings.partitions),
        )
        cur.execute(
            "SELECT 1 FROM proj.offsets WHERE projection = ANY(%s) AND topic = %s"
            " ORDER BY projection, partition FOR UPDATE",
            (names, topic),
        )
    # The live projector cannot commit these projections now: finish the replay in this
    # transaction, so the swapped-in tables are exactly as far as the offsets they carry.
    events = 0
    targets = end_offsets(settings)
    while not _caught_up(projector, targets):
        polled = projector.consumer.poll(timeout_ms=200)
        batch, next_offsets = projector.decode(polled)
        events += projector.apply_batch(batch, next_offsets, commit=False).events
    with conn.cursor() as cur:
        # Read up to the targets, so what lies between the last applied record and a target
        # is transaction markers or aborted records: the offsets pass them, or the live
        # projector (which remembers storing them) would leave its lag above 0 on idle
        # partitions until their next event.
        cur.execute(
            sql.SQL(
                "UPDATE {} AS s SET next_offset = t.target FROM unnest(%s::int[], %s::bigint[])"
                " AS t (partition, target) WHERE s.topic = %s AND s.partition = t.partition"
                " AND s.projection = ANY(%s) AND s.next_offset < t.target"
            ).format(sql.Identifier(shadow, "offsets")),
            (list(targets), list(targets.values()), topic, names),
        )
        for table in _tables(projections):
            # Dropped and replaced in one transaction: a reader waiting on the old table's lock
            # looks the name up again after the commit and reads the new table.
            cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(LIVE_SCHEMA, table)))
            cur.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(shadow, table), sql.Identifier(LIVE_SCHEMA)
                )
            )
        cur.execute(
            sql.SQL(
                "UPDATE proj.offsets AS o SET next_offset = s.next_offset, updated_at = now()"
                " FROM {} AS s WHERE o.projection = s.projection AND o.topic = s.topic"
                " AND o.partition = s.partition"
            ).format(sql.Identifier(shadow, "offsets"))
        )
        cur.execute("DELETE FROM proj.parked_events WHERE projection = ANY(%s)", (names,))
        cur.execute(
            sql.SQL("INSERT INTO proj.parked_events SELECT * FROM {}").format(
                sql.Identifier(shadow, "parked_events")
            )
        )
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(shadow)))
    conn.commit()
    return events
