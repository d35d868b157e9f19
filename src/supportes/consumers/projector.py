"""The projector: ``<prefix>.events`` into the PostgreSQL projections, exactly once.

Consumer group ``<prefix>-projector`` (``supportes-projector``), read_committed. Each poll batch
is applied to every projection together with the offsets in ``offsets`` (per projection and
partition), each projection's rows and offsets in one PostgreSQL transaction. On assignment the
consumer seeks to the stored offsets; Kafka's committed offsets are written afterwards for lag
tools only. An event takes effect exactly once.

The projections are spread over ``SUPPORTES_PROJECTOR_CONNECTIONS`` lanes (one connection and
worker thread each, :func:`~supportes.consumers.lanes.spread` by ``Projection.weight``): a lane
applies its projections' share of a batch and their offsets in its own transaction,
concurrently with the other lanes. With one lane, a batch is one transaction for everything.
How a lane's transaction applies a batch (per-projection offsets, their locks, the one-piece
try and the isolated retry) is in :mod:`supportes.consumers.projector_batch`; parking events a
projection fails on, in :mod:`supportes.consumers.projector_parking`; decoding and dead
letters, in :mod:`supportes.consumers.projector_decode`.

:meth:`Projector.run` (the service and a rebuild's replay) applies each batch on the lanes'
threads while the main thread polls and decodes the next one (:meth:`Projector.run_ahead`); the
main thread touches PostgreSQL (seeks, idle positions) or lets partitions go only once every
lane has finished the batch in flight.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions
from kafka import ConsumerRebalanceListener, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata
from psycopg2 import sql

from supportes.consumers.ahead import OneAhead
from supportes.consumers.dependencies import Backoff, Stopping, dependency_of, first_line
from supportes.consumers.lanes import spread
from supportes.consumers.projector_batch import BatchReport, Lane, LaneApplier, Prepared
from supportes.consumers.projector_decode import DEAD_LETTER_TIMEOUT_S, DeadLetters
from supportes.consumers.projector_decode import decode as decode_poll
from supportes.db.connect import connect
from supportes.logs import get_logger
from supportes.messaging.clients import (
    Component,
    group_consumer,
    plain_producer,
    subscribe_known,
)
from supportes.observability.projector_metrics import ProjectorMetrics
from supportes.privacy.opener import EventOpener
from supportes.privacy.wiring import event_opener
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext
from supportes.projections.registry import all_projections
from supportes.runtime import tune_for_batches
from supportes.settings import PgComponent, Settings

__all__ = [
    "DEAD_LETTER_TIMEOUT_S",
    "GROUP_ID",
    "LIVE_SCHEMA",
    "BatchReport",
    "Prepared",
    "Projector",
    "group_for",
]

log = get_logger("projector")

GROUP_ID = "<prefix>-projector"
"""The default consumer group: ``<topic prefix>-projector`` (``supportes-projector`` with the
default prefix), so projectors of different prefixes sharing a broker never share a group."""


def group_for(settings: Settings) -> str:
    """The projector's consumer group for these settings' topic prefix."""
    return f"{settings.topic_prefix}-projector"


LIVE_SCHEMA = "proj"


@dataclass
class _InFlight:
    """A batch handed to the worker thread: what the main thread does once it commits."""

    next_offsets: dict[int, int]
    began: float
    dead_letters: int


class Projector:
    """Applies the events topic to projections in ``schema`` (live ``proj`` or a shadow);
    ``record_metrics`` (``serve``): its figures go to the ``supportes_projector_*`` metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str | None = GROUP_ID,
        projections: Sequence[Projection] | None = None,
        schema: str = LIVE_SCHEMA,
        partitions: Sequence[int] | None = None,
        max_poll_records: int | None = None,
        opener: EventOpener | None = None,
        record_metrics: bool = False,
    ) -> None:
        tune_for_batches()
        self.settings = settings
        self.opener = opener if opener is not None else event_opener(settings)
        self.topic = settings.topic("events")
        self.schema = schema
        self.projections = list(projections if projections is not None else all_projections())
        self.names = [p.name for p in self.projections]
        self._preparing = [
            i for i, p in enumerate(self.projections) if type(p).prepare is not Projection.prepare
        ]
        self.context = ProjectionContext.from_settings(settings)
        self._applier = LaneApplier(self.topic, schema, self.projections, self.context)
        self._dsn = settings.dsn_for(PgComponent.PROJECTOR)
        self.metrics = ProjectorMetrics(
            record_metrics and settings.metrics_enabled,
            dsn=self._dsn,
            schema=schema,
            names=self.names,
        )
        self.conn: psycopg2.extensions.connection = connect(self._dsn)
        self._all = self._applier.lane(range(len(self.projections)), self.conn, None)
        self._lanes = [
            self._applier.lane(
                indices,
                self.conn if number == 0 else connect(self._dsn),
                OneAhead(f"projector-apply-{number}"),
            )
            for number, indices in enumerate(
                spread([p.weight for p in self.projections], settings.projector_connections)
            )
        ]
        self.consumer = group_consumer(
            settings,
            Component.PROJECTOR,
            group_for(settings) if group_id == GROUP_ID else group_id,
            max_poll_records=max_poll_records or settings.projector_batch,
            # A batch of 10,000 events is ~6 MB: larger fetch buffers only raise peak memory.
            max_partition_fetch_bytes=2 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=100,
        )
        self._group = group_id is not None
        # ``plain_producer`` is looked up in this module when the first dead letter is sent.
        self._letters = DeadLetters(
            settings.topic("dead-letters"),
            lambda: plain_producer(
                self.settings, Component.PROJECTOR, client_id="supportes-projector"
            ),
        )
        self._to_seek: set[int] = set()
        self._stored: dict[int, int] = {}  # partition -> lowest next offset over projections
        self._in_flight: _InFlight | None = None
        self._after_outage = False
        self.backoff = Backoff("projector" if schema == LIVE_SCHEMA else f"projector:{schema}")
        if partitions is None:
            subscribe_known(  # no second rebalance at start (see subscribe_known)
                self.consumer,
                self.topic,
                listener=_Rebalance(self),
                timeout_s=settings.connect_timeout_s,
            )
        else:
            self.consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            self._to_seek.update(partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_timeout_ms: int = 200) -> None:
        """Project until ``stop`` is set; the batch in hand is committed first.

        A dependency outage (PostgreSQL or Kafka) is ridden out: the batch in hand is rolled
        back, lost connections are replaced, every assigned partition is sought back to its
        stored offsets, and the projector backs off (stop-aware) and goes on. Any other
        failure is raised."""
        log.info("projector started", topic=self.topic, schema=self.schema, projections=self.names)
        self.backoff.stop = stop
        try:
            while not stop.is_set():
                try:
                    if self._after_outage:
                        self._replace_lost_connections()
                        self._after_outage = False
                    self.run_ahead(poll_timeout_ms)
                    self.backoff.succeeded()
                except Exception as exc:
                    dependency = dependency_of(exc)
                    if dependency is None:
                        raise
                    self._ride_out(dependency, exc)
            with contextlib.suppress(Stopping):
                self._finish_quietly()
        except Stopping:
            pass
        finally:
            self.close()

    def _finish_quietly(self) -> None:
        """Commit the batch in flight at a stop; an outage then only loses the batch (it is
        read again from the stored offsets next time)."""
        try:
            self.finish_in_flight()
        except Exception as exc:
            if dependency_of(exc) is None:
                raise
            log.warning("batch in flight not committed at stop", error=first_line(exc))

    def _ride_out(self, dependency: str, exc: BaseException) -> None:
        log.warning(
            "dependency unavailable; batch rolled back, partitions to be re-read",
            dependency=dependency,
            error=first_line(exc),
        )
        with contextlib.suppress(Exception):  # every lane ends its batch before anything else
            self.finish_in_flight()
        self._in_flight = None
        self._letters.reset()
        self._to_seek.update(tp.partition for tp in self.consumer.assignment())
        self._after_outage = True
        self.backoff.wait(dependency, exc)

    def _replace_lost_connections(self) -> None:
        """Open new connections for lanes whose connection was lost (or is unusable)."""
        for lane in [*self._lanes, self._all]:
            if lane.conn.closed:
                lane.conn = connect(self._dsn)
            else:
                try:
                    lane.conn.rollback()
                except psycopg2.Error:
                    with contextlib.suppress(psycopg2.Error):
                        lane.conn.close()
                    lane.conn = connect(self._dsn)
        self.conn = self._lanes[0].conn
        self._all.conn = self.conn

    def close(self) -> None:
        """Leave the group and release connections (a batch in flight commits first). Each
        step runs even when an earlier one failed."""
        steps: list[tuple[str, Callable[[], object]]] = [
            ("lanes", self.stop_worker),
            ("consumer", self.consumer.close),
            ("dead letters", self._letters.close),
            ("keys", self.opener.close),
            ("metrics", self.metrics.close),
            *(("connection", conn.close) for conn in {id(c): c for c in self.connections}.values()),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                log.warning("closing failed", step=what, error=first_line(exc))
        log.info("projector stopped", schema=self.schema)

    @property
    def connections(self) -> list[psycopg2.extensions.connection]:
        """The PostgreSQL connections of the lanes (the first is :attr:`conn`)."""
        return [lane.conn for lane in self._lanes]

    @property
    def _dead_letters(self) -> KafkaProducer | None:
        """The dead-letter producer, once the first dead letter made it."""
        return self._letters.producer

    def assigned(self, partitions: set[int]) -> None:
        """Group callback: seek these partitions to their stored offsets before reading."""
        self._to_seek.update(partitions)

    def revoked(self, partitions: set[int]) -> None:
        """Group callback: commit the batch in flight, then forget these partitions."""
        self.finish_in_flight()
        for number in partitions:
            self._stored.pop(number, None)
            self._to_seek.discard(number)

    # -- one batch -------------------------------------------------------------------------

    def run_once(self, poll_timeout_ms: int = 200) -> BatchReport:
        """Poll once and apply what came (each lane in its one PostgreSQL transaction)."""
        self.finish_in_flight()
        if self._to_seek:
            self._seek_to_stored()
        polled = self.consumer.poll(timeout_ms=poll_timeout_ms)
        if not polled:
            self._advance_idle_positions()
            return BatchReport()
        self._hand_over(polled)
        return self.finish_in_flight()

    def run_ahead(self, poll_timeout_ms: int = 200) -> BatchReport:
        """Poll and decode a batch while the previous one is applied on the lanes' worker
        threads, then hand this one over. Returns the report of the batch that committed
        meanwhile (empty when none); :meth:`finish_in_flight` waits for the last one."""
        if self._to_seek:
            report = self.finish_in_flight()
            self._seek_to_stored()
            return report
        polled = self.consumer.poll(timeout_ms=poll_timeout_ms)
        if not polled:
            report = self.finish_in_flight()
            self._advance_idle_positions()
            self.metrics.lag(self.consumer, self.topic, self._stored)
            return report
        return self._hand_over(polled)

    def _hand_over(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> BatchReport:
        """Decode and prepare a poll, wait for the batch in flight, give this one to every
        lane; the report of the batch that was in flight."""
        began = time.monotonic()
        unreadable_before = self._letters.count
        events, next_offsets = self.decode(polled)
        del polled  # the raw records need not live on while the batch in flight finishes
        prepared = self.prepare(events)
        report = self.finish_in_flight()
        self._in_flight = _InFlight(next_offsets, began, self._letters.count - unreadable_before)
        for lane in self._lanes:
            assert lane.worker is not None
            lane.worker.submit(
                functools.partial(self._apply_lane, lane, events, next_offsets, prepared)
            )
        return report

    def finish_in_flight(self) -> BatchReport:
        """Wait for the batch on the lanes (the first error is raised here, once every lane
        has finished); its report."""
        if self._in_flight is None:
            return BatchReport()
        in_flight, self._in_flight = self._in_flight, None
        reports: list[BatchReport] = []
        errors: list[BaseException] = []
        for lane in self._lanes:
            assert lane.worker is not None
            try:
                reports.append(lane.worker.wait())
            except BaseException as exc:  # every lane must end before one error is raised
                errors.append(exc)
        if errors:
            raise errors[0]
        report = BatchReport(events=reports[0].events)
        for one in reports:
            report.applied.update(one.applied)
            report.parked += one.parked
        self._advance_stored(in_flight.next_offsets)
        self._batch_done(report, in_flight)
        return report

    def stop_worker(self) -> None:
        """Let a batch in flight end (commit or fail, unreported) and stop the worker threads;
        PostgreSQL is the main thread's again."""
        self._in_flight = None
        for lane in self._lanes:
            assert lane.worker is not None
            lane.worker.close()

    def _batch_done(self, report: BatchReport, batch: _InFlight) -> None:
        report.dead_letters = batch.dead_letters
        self._commit_kafka_offsets(batch.next_offsets)
        self.metrics.batch(report, time.monotonic() - batch.began)
        self.metrics.lag(self.consumer, self.topic, self._stored)
        log.info(
            "batch projected",
            events=report.events,
            parked=report.parked,
            dead_letters=report.dead_letters,
            partitions=sorted(batch.next_offsets),
            duration_ms=round((time.monotonic() - batch.began) * 1000, 1),
        )

    def decode(
        self, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> tuple[list[LoggedEvent], dict[int, int]]:
        """Envelopes of a poll and the next offset per partition; unreadable records are
        dead-lettered and acknowledged before this returns (see :mod:`.projector_decode`);
        personal fields are opened, or read as their masks once erased."""
        events, next_offsets = decode_poll(polled, self._letters)
        self.opener.open(events)
        return events, next_offsets

    def prepare(self, events: Sequence[LoggedEvent]) -> Prepared:
        """What the projections prepare from their events by type (no database): for
        :meth:`apply_batch`, which uses it where the offsets take every one of those events."""
        prepared: Prepared = {}
        for index in self._preparing:
            projection = self.projections[index]
            mine = [e for e in events if e.type in projection.handles]
            if mine:
                prepared[index] = (len(mine), projection.prepare(mine))
        return prepared

    def apply_batch(
        self,
        events: Sequence[LoggedEvent],
        next_offsets: dict[int, int],
        *,
        commit: bool = True,
        prepared: Prepared | None = None,
    ) -> BatchReport:
        """Apply ``events`` to every projection and move their offsets to ``next_offsets`` in
        ONE transaction on :attr:`conn` (no lanes). Without ``commit`` the caller's
        transaction goes on (a rebuild's swap)."""
        report = self._apply_lane(self._all, events, next_offsets, prepared, commit=commit)
        self._advance_stored(next_offsets)
        return report

    def _apply_lane(
        self,
        lane: Lane,
        events: Sequence[LoggedEvent],
        next_offsets: dict[int, int],
        prepared: Prepared | None,
        *,
        commit: bool = True,
    ) -> BatchReport:
        """Apply ``events`` to the lane's projections and move their offsets, in one
        transaction on the lane's connection (see :meth:`LaneApplier.apply_lane`)."""
        return self._applier.apply_lane(lane, events, next_offsets, prepared, commit=commit)

    def _advance_stored(self, next_offsets: dict[int, int]) -> None:
        for partition, offset in next_offsets.items():
            self._stored[partition] = max(self._stored.get(partition, 0), offset)

    def _use_schema(self, cur: psycopg2.extensions.cursor) -> None:
        cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))

    # -- Kafka side ------------------------------------------------------------------------

    def _seek_to_stored(self) -> None:
        """Seek newly assigned partitions to the lowest stored offset over the projections."""
        partitions = sorted(self._to_seek)
        self._to_seek.clear()
        with self.conn.cursor() as cur:
            self._use_schema(cur)
            cur.execute(
                "SELECT partition, projection, next_offset FROM offsets"
                " WHERE topic = %s AND partition = ANY(%s) AND projection = ANY(%s)",
                (self.topic, partitions, self.names),
            )
            rows = cur.fetchall()
        self.conn.commit()
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for partition, name, offset in rows:
            found[partition][name] = offset
        for partition in partitions:
            offsets = found.get(partition, {})
            lowest = min(offsets.get(name, 0) for name in self.names)
            self._stored[partition] = lowest
            self.consumer.seek(TopicPartition(self.topic, partition), lowest)
        log.info(
            "partitions assigned",
            partitions=partitions,
            offsets={p: self._stored[p] for p in partitions},
        )

    def _advance_idle_positions(self) -> None:
        """When nothing came, store positions that moved past transaction markers or aborted
        records, so that lag reads 0 at the end of the log."""
        moved: dict[int, int] = {}
        for tp in self.consumer.assignment():
            if tp.partition in self._to_seek or tp.partition not in self._stored:
                continue
            position = self.consumer.position(tp)
            if position is not None and position > self._stored[tp.partition]:
                moved[tp.partition] = position
        if moved:
            self.apply_batch([], moved)

    def _commit_kafka_offsets(self, next_offsets: dict[int, int]) -> None:
        """Informational only (lag tools); the stored PostgreSQL offsets are what counts."""
        if not self._group:
            return
        offsets = {
            TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
            for p, o in next_offsets.items()
        }
        try:
            self.consumer.commit_async(offsets)
        except Exception as exc:  # never let lag bookkeeping stop projecting
            log.debug("kafka offset commit failed", error=str(exc))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.projector.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.projector.assigned({tp.partition for tp in assigned})
