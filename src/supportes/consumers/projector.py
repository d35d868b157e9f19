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

Offsets are per projection, so one projection can be rebuilt beside the live ones (see
:mod:`supportes.ops.rebuild`): the projector applies an event to a projection only when its
offset is at or beyond that projection's stored offset. Each lane's transaction starts by
locking its projections' offset rows of the batch's partitions (``FOR UPDATE``, in a fixed
order), which serialises it with a rebuild's swap and with ``retry-parked``.

An event a projection fails to apply (a bug, not bad data) is parked in ``parked_events`` with
the error, together with every later event of that aggregate for that projection; the rest of
the batch goes on. Records that are not event envelopes go to the dead-letter topic.

:meth:`Projector.run` (the service and a rebuild's replay) applies each batch on the lanes'
threads while the main thread polls and decodes the next one (:meth:`Projector.run_ahead`); the
main thread touches PostgreSQL (seeks, idle positions) or lets partitions go only once every
lane has finished the batch in flight.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import psycopg2
import psycopg2.extensions
from kafka import ConsumerRebalanceListener, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata
from psycopg2 import sql
from psycopg2.extras import execute_values

from supportes.aggregates.errors import EnvelopeError
from supportes.consumers.ahead import OneAhead
from supportes.consumers.lanes import spread
from supportes.db.connect import connect
from supportes.eventstore.envelopes import decode_event
from supportes.logs import get_logger
from supportes.messaging.clients import group_consumer, plain_producer, wait_for_topic
from supportes.messaging.dead_letters import dead_letter_headers, dead_letter_value
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext
from supportes.projections.registry import all_projections
from supportes.runtime import tune_for_batches
from supportes.settings import Settings

log = get_logger("projector")

GROUP_ID = "<prefix>-projector"
"""The default consumer group: ``<topic prefix>-projector`` (``supportes-projector`` with the
default prefix), so projectors of different prefixes sharing a broker never share a group."""


def group_for(settings: Settings) -> str:
    """The projector's consumer group for these settings' topic prefix."""
    return f"{settings.topic_prefix}-projector"


LIVE_SCHEMA = "proj"

DEAD_LETTER_TIMEOUT_S = 30.0
"""How long a batch waits for its dead letters to be acknowledged before it fails (and is
read again from the stored offsets)."""


Prepared = dict[int, tuple[int, object]]
"""Per projection index: how many events it prepared for, and what ``prepare`` returned."""


@dataclass
class _InFlight:
    """A batch handed to the worker thread: what the main thread does once it commits."""

    next_offsets: dict[int, int]
    began: float
    dead_letters: int


class _BatchFailedError(Exception):
    """A projection failed on a batch applied in one piece (the batch is retried isolated)."""

    def __init__(self, projection: str, error: Exception) -> None:
        super().__init__(projection)
        self.projection = projection
        self.error = error


@dataclass
class _Lane:
    """Some of the projections, applied in their own transactions on their own connection
    (with ``worker``: on their own thread)."""

    indices: list[int]
    names: list[str]
    by_type: dict[str, list[int]]
    conn: psycopg2.extensions.connection
    worker: OneAhead[BatchReport] | None


@dataclass
class BatchReport:
    """What one applied batch did."""

    events: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    parked: int = 0
    dead_letters: int = 0


class Projector:
    """Applies the events topic to projections in ``schema`` (live ``proj`` or a shadow)."""

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str | None = GROUP_ID,
        projections: Sequence[Projection] | None = None,
        schema: str = LIVE_SCHEMA,
        partitions: Sequence[int] | None = None,
        max_poll_records: int | None = None,
    ) -> None:
        tune_for_batches()
        self.settings = settings
        self.topic = settings.topic("events")
        self.schema = schema
        self.projections = list(projections if projections is not None else all_projections())
        self.names = [p.name for p in self.projections]
        self._preparing = [
            i for i, p in enumerate(self.projections) if type(p).prepare is not Projection.prepare
        ]
        self.context = ProjectionContext.from_settings(settings)
        self.conn: psycopg2.extensions.connection = connect(settings.dsn)
        self._all = self._lane(range(len(self.projections)), self.conn, None)
        self._lanes = [
            self._lane(
                indices,
                self.conn if number == 0 else connect(settings.dsn),
                OneAhead(f"projector-apply-{number}"),
            )
            for number, indices in enumerate(
                spread([p.weight for p in self.projections], settings.projector_connections)
            )
        ]
        self.consumer = group_consumer(
            settings,
            group_for(settings) if group_id == GROUP_ID else group_id,
            max_poll_records=max_poll_records or settings.projector_batch,
            # A batch of 10,000 events is ~6 MB: larger fetch buffers only raise peak memory.
            max_partition_fetch_bytes=2 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=100,
        )
        self._group = group_id is not None
        self._dead_letters: KafkaProducer | None = None
        self._unreadable = 0
        self._to_seek: set[int] = set()
        self._stored: dict[int, int] = {}  # partition -> lowest next offset over projections
        self._in_flight: _InFlight | None = None
        if partitions is None:
            wait_for_topic(self.consumer, self.topic, timeout_s=settings.connect_timeout_s)
            self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        else:
            self.consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            self._to_seek.update(partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_timeout_ms: int = 200) -> None:
        """Project until ``stop`` is set; the batch in hand is committed first."""
        log.info("projector started", topic=self.topic, schema=self.schema, projections=self.names)
        try:
            while not stop.is_set():
                self.run_ahead(poll_timeout_ms)
            self.finish_in_flight()
        finally:
            self.close()

    def close(self) -> None:
        """Leave the group and release connections (a batch in flight commits first)."""
        self.stop_worker()
        self.consumer.close()
        if self._dead_letters is not None:
            self._dead_letters.close(timeout=10)
        for conn in self.connections:
            conn.close()
        log.info("projector stopped", schema=self.schema)

    @property
    def connections(self) -> list[psycopg2.extensions.connection]:
        """The PostgreSQL connections of the lanes (the first is :attr:`conn`)."""
        return [lane.conn for lane in self._lanes]

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
            return report
        return self._hand_over(polled)

    def _hand_over(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> BatchReport:
        """Decode and prepare a poll, wait for the batch in flight, give this one to every
        lane; the report of the batch that was in flight."""
        began = time.monotonic()
        unreadable_before = self._unreadable
        events, next_offsets = self.decode(polled)
        del polled  # the raw records need not live on while the batch in flight finishes
        prepared = self.prepare(events)
        report = self.finish_in_flight()
        self._in_flight = _InFlight(next_offsets, began, self._unreadable - unreadable_before)
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
        """Envelopes of a poll and the next offset per partition.

        Unreadable records go to the dead-letter topic, and are acknowledged there before this
        returns: the offsets that pass them are only stored after it, so a crash cannot skip a
        record without its dead letter (one may be sent twice)."""
        events: list[LoggedEvent] = []
        next_offsets: dict[int, int] = {}
        sent: list[FutureRecordMetadata] = []
        for tp, records in polled.items():
            for record in records:
                try:
                    envelope = decode_event(record.value)
                except EnvelopeError as exc:
                    sent.append(self._dead_letter(record, str(exc)))
                    continue
                events.append(LoggedEvent(envelope, tp.partition, record.offset))
            if records:
                next_offsets[tp.partition] = records[-1].offset + 1
        if sent:
            assert self._dead_letters is not None
            self._dead_letters.flush(timeout=DEAD_LETTER_TIMEOUT_S)
            for future in sent:
                future.get(timeout=DEAD_LETTER_TIMEOUT_S)  # raises what the broker refused
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
        lane: _Lane,
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
                conn.rollback()
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
            conn.rollback()
            raise
        return report

    def _advance_stored(self, next_offsets: dict[int, int]) -> None:
        for partition, offset in next_offsets.items():
            self._stored[partition] = max(self._stored.get(partition, 0), offset)

    def _apply(
        self,
        lane: _Lane,
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
            stored, any_parked = self._begin(cur, sorted(next_offsets), lane.names)
            parked = (
                self._parked_aggregates(cur, {str(e.envelope["aggregate_id"]) for e in events})
                if any_parked
                else {}
            )
            for index, mine in self._route(lane, events, stored).items():
                projection = self.projections[index]
                ahead = prepared.get(index) if prepared else None
                ready = ahead[1] if ahead is not None and ahead[0] == len(mine) else None
                waiting = parked.get(projection.name, set())
                if isolate or waiting:
                    report.parked += self._apply_isolated(cur, projection, mine, waiting, ready)
                else:
                    try:
                        self._apply_one(cur, projection, mine, ready)
                    except Exception as exc:
                        raise _BatchFailedError(projection.name, exc) from exc
                report.applied[projection.name] = len(mine)
            self._store_offsets(cur, stored, next_offsets, lane.names)
        return report

    def _apply_one(
        self,
        cur: psycopg2.extensions.cursor,
        projection: Projection,
        events: list[LoggedEvent],
        prepared: object | None,
    ) -> None:
        if prepared is not None:
            projection.apply_prepared(cur, events, self.context, prepared)
        else:
            projection.apply(cur, events, self.context)

    # -- pieces of a batch -----------------------------------------------------------------

    def _route(
        self, lane: _Lane, events: Sequence[LoggedEvent], stored: dict[tuple[str, int], int]
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

    def _lane(
        self,
        indices: Iterable[int],
        conn: psycopg2.extensions.connection,
        worker: OneAhead[BatchReport] | None,
    ) -> _Lane:
        chosen = sorted(indices)
        by_type: dict[str, list[int]] = {}
        for index in chosen:
            for event_type in self.projections[index].handles:
                by_type.setdefault(event_type, []).append(index)
        return _Lane(chosen, [self.names[i] for i in chosen], by_type, conn, worker)

    def _use_schema(self, cur: psycopg2.extensions.cursor) -> None:
        cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))

    def _begin(
        self, cur: psycopg2.extensions.cursor, partitions: list[int], names: list[str]
    ) -> tuple[dict[tuple[str, int], int], bool]:
        """In one round trip: set the schema, lock (creating when missing) and read the offset
        rows of these partitions, and tell whether the topic has parked events at all."""
        statements = [
            sql.SQL("SET LOCAL search_path TO {}")
            .format(sql.Identifier(self.schema))
            .as_string(cur)
        ]
        rows = sorted((name, self.topic, p, 0) for name in names for p in partitions)
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
                (self.topic, self.topic, partitions, names),
            ).decode()
        )
        cur.execute(";\n".join(statements))
        found = cur.fetchall()
        stored = {(name, partition): offset for name, partition, offset, _ in found}
        return stored, bool(found[0][3]) if found else True

    def _store_offsets(
        self,
        cur: psycopg2.extensions.cursor,
        stored: dict[tuple[str, int], int],
        next_offsets: dict[int, int],
        names: list[str],
    ) -> None:
        rows = [
            (name, self.topic, partition, max(stored.get((name, partition), 0), offset))
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

    def _parked_aggregates(
        self, cur: psycopg2.extensions.cursor, aggregate_ids: set[str]
    ) -> dict[str, set[UUID]]:
        if not aggregate_ids:
            return {}
        cur.execute(
            "SELECT DISTINCT projection, aggregate_id FROM parked_events"
            " WHERE topic = %s AND aggregate_id = ANY(%s::uuid[])",
            (self.topic, list(aggregate_ids)),
        )
        parked: dict[str, set[UUID]] = defaultdict(set)
        for name, aggregate_id in cur.fetchall():
            parked[name].add(UUID(str(aggregate_id)))
        return parked

    def _apply_isolated(
        self,
        cur: psycopg2.extensions.cursor,
        projection: Projection,
        events: list[LoggedEvent],
        parked: set[UUID],
        prepared: object | None = None,
    ) -> int:
        """Apply set-based; on failure find the failing aggregates and park them. Returns the
        number of events parked. ``prepared``: what the projection prepared for ``events``."""
        waiting: list[LoggedEvent] = []
        ready = events
        if parked:
            waiting = [e for e in events if e.aggregate_id in parked]
            ready = [e for e in events if e.aggregate_id not in parked]
        if ready:
            cur.execute("SAVEPOINT batch")
            try:
                self._apply_one(
                    cur, projection, ready, prepared if len(ready) == len(events) else None
                )
                cur.execute("RELEASE SAVEPOINT batch")
            except Exception:
                cur.execute("ROLLBACK TO SAVEPOINT batch")
                waiting += self._apply_one_aggregate_at_a_time(cur, projection, ready)
        if waiting:
            self._park(
                cur, projection.name, waiting, "an earlier event of this aggregate is parked"
            )
        return len(waiting)

    def _apply_one_aggregate_at_a_time(
        self, cur: psycopg2.extensions.cursor, projection: Projection, events: list[LoggedEvent]
    ) -> list[LoggedEvent]:
        """The slow path after a failed batch: returns the events to park."""
        by_aggregate: dict[UUID, list[LoggedEvent]] = defaultdict(list)
        for event in events:
            by_aggregate[event.aggregate_id].append(event)
        to_park: list[LoggedEvent] = []
        for aggregate_events in by_aggregate.values():
            for index, event in enumerate(aggregate_events):
                cur.execute("SAVEPOINT one")
                try:
                    projection.apply(cur, [event], self.context)
                    cur.execute("RELEASE SAVEPOINT one")
                except Exception as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT one")
                    error = f"{type(exc).__name__}: {exc}".strip()
                    log.error(
                        "event parked",
                        projection=projection.name,
                        case_id=str(event.aggregate_id),
                        version=event.version,
                        partition=event.partition,
                        offset=event.offset,
                        error=error,
                    )
                    self._park(cur, projection.name, [event], error)
                    to_park.extend(aggregate_events[index + 1 :])
                    break
        return to_park

    def _park(
        self, cur: psycopg2.extensions.cursor, name: str, events: Iterable[LoggedEvent], error: str
    ) -> None:
        execute_values(
            cur,
            'INSERT INTO parked_events (projection, topic, partition, "offset", aggregate_id,'
            " version, type, envelope, error) VALUES %s ON CONFLICT DO NOTHING",
            [
                (
                    name,
                    self.topic,
                    e.partition,
                    e.offset,
                    str(e.aggregate_id),
                    e.version,
                    e.type,
                    psycopg2.extras.Json(dict(e.envelope)),
                    error[:2000],
                )
                for e in events
            ],
        )

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

    def _dead_letter(self, record: ConsumerRecord, reason: str) -> FutureRecordMetadata:
        self._unreadable += 1
        if self._dead_letters is None:
            self._dead_letters = plain_producer(self.settings, client_id="supportes-projector")
        sent: FutureRecordMetadata = self._dead_letters.send(
            self.settings.topic("dead-letters"),
            key=record.key,
            value=dead_letter_value(record),
            headers=dead_letter_headers(record, reason),
        )
        log.warning(
            "unreadable event dead-lettered",
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        return sent


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.projector.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.projector.assigned({tp.partition for tp in assigned})
