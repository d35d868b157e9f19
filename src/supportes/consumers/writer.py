"""The command writer: exactly-once command processing, fenced by the consumer-group generation
(exactly-once v2, KIP-447) or, under manual assignment, by a transactional id per partition.

Group mode (``supportes serve --writer``: ``Writer(partitions=None)``)
    ONE transactional producer per writer process, ``transactional_id = <group>-<instance>``
    (``SUPPORTES_WRITER_INSTANCE``, default ``0``: ``supportes-writer-0``), and ONE transaction per
    poll cycle for all owned partitions: events, results, dead letters, follow-on commands and
    every consumed offset, sent with ``send_offsets_to_transaction(offsets, group_metadata)``.
    The metadata is taken right after ``poll`` (the generation the records were fetched under);
    a cycle without a generation processes nothing (the broker accepts generation -1 unfenced).

    - The id is stable across restarts, so a writer restarted after kill -9 aborts its own open
      transaction at ``init_transactions()``, before it opens any partition. One that dies for
      good leaves it open until ``TRANSACTION_TIMEOUT_MS`` (15 s); its partitions wait so long.
      Two live writers with one instance fence each other's producer: logged as an error, the
      fenced one starts over with a new producer (a misconfiguration, but never a duplicate).
    - A zombie (it lost its membership while stalled) fails ``send_offsets_to_transaction`` with
      a generation error, aborts (its events never become visible), drops the state of every
      partition and re-opens what the group gives it after rejoining.
    - Taking partition p, in this order: (1) the committed offset, fetched stable (read_committed
      sends ``require_stable``: the broker answers UNSTABLE_OFFSET_COMMIT while a previous owner's
      transactional offset commit is pending; retried); (2) wait until no transaction is open on
      events/results p (last stable offset == high watermark; a decided transaction's markers may
      be in flight, a zombie's open one is about to abort); (3) catch the index up from events and
      results p (read_committed, to the end); (4) seek to the committed offset. Every transaction
      whose offsets count as committed is then in the index, and no other can commit offsets.

Manual assignment (``Writer(partitions=[...])``, tests and tools)
    Without a group generation there is nothing to fence by, so design section 2 applies: one
    producer and one transaction per partition, ``transactional_id = supportes-writer-p{p}``; a new
    owner's ``init_transactions`` aborts and fences the old one. Never run it beside a group-mode
    writer of the same topics (different ids: they would not fence each other).

After the commit the cycle's batches are written to the event index with their offsets.
Failures: fenced producer → manual: give the partition up (pause it until revoked); group: new
producer, re-open every partition. Generation error → the zombie path above. Other abortable
error → abort, seek every partition of the transaction back, decide again. A call that timed
out or an abort that failed (outcome unknown) → new producer, re-open (catch up from the log,
re-seek). PostgreSQL error → abort and retry, re-index from the log. Idempotency: a command id
already answered gets its first result again and writes no event.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg2
from eventsourcing.persistence import StoredEvent
from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from supportes import fastjson
from supportes.aggregates import (
    AnyAggregate,
    Rejection,
    decide,
    last_hash_of,
    rebuild,
)
from supportes.aggregates.dispatch import accepted_result, rejected_result
from supportes.consumers.batch import PendingBatch
from supportes.consumers.ownership import (
    GENERATION_ERRORS,
    TRANSACTION_TIMEOUT_MS,
    Lane,
    instance_transactional_id,
    is_fenced,
    open_lane,
    partition_transactional_id,
    stable_committed,
)
from supportes.consumers.records import Incoming, parse_record
from supportes.eventstore.index import EventIndex, IndexedEvent, ProcessedCommand
from supportes.eventstore.recorder import KafkaEventRecorder, to_stored_event
from supportes.logs import get_logger
from supportes.messaging import transactions
from supportes.messaging.bulk_send import send_many
from supportes.messaging.clients import committed_reader, group_consumer, wait_for_topic
from supportes.messaging.dead_letters import dead_letter_headers, dead_letter_value
from supportes.messaging.guard import CallTimedOutError
from supportes.messaging.log_reader import read_to_end, wait_until_no_open_transaction
from supportes.messaging.transactions import PendingCall
from supportes.runtime import tune_gc
from supportes.settings import Settings

log = get_logger("writer")

GROUP_ID = "supportes-writer"
CACHE_SIZE = 20_000
CALL_TIMEOUT_S = 30.0
PRUNE_EVERY_S = 600.0
FENCED_BACKOFF_S = 0.25  # first pause after a fencing; doubles per fencing in a row, up to 16x
IDEMPOTENCY_WINDOW = timedelta(days=8)  # the commands topic keeps 7 days; one day of margin
# Taking a partition waits for a previous owner's transaction; the coordinator aborts an
# abandoned one after TRANSACTION_TIMEOUT_MS (checked every 10 s by default): a generous bound.
TAKEOVER_TIMEOUT_S = 4 * TRANSACTION_TIMEOUT_MS / 1000 + 60
transactional_id = partition_transactional_id  # the name design section 2 uses


class PartitionFencedError(Exception):
    """Another writer took this partition; this one must stop writing to it."""


@dataclass
class WriterHooks:
    """Test seams: called per partition where a crash or a zombie is most interesting."""

    before_send_offsets: Callable[[int], None] = lambda partition: None
    before_commit: Callable[[int], None] = lambda partition: None
    after_commit: Callable[[int], None] = lambda partition: None


@dataclass
class _Partition:
    """What the writer holds for one owned partition."""

    number: int
    lane: Lane
    recorder: KafkaEventRecorder
    cache: OrderedDict[UUID, AnyAggregate] = field(default_factory=OrderedDict)
    batch: PendingBatch | None = None
    fenced: bool = False


@dataclass
class _IndexWrite:
    """The index write in flight: committed batches on their way to PostgreSQL."""

    future: Future[int]
    partitions: list[int]
    batches: list[PendingBatch]


# One partition's share of a cycle: its state, its polled records, and the records parsed.
_Taken = tuple[_Partition, list[ConsumerRecord], list[Incoming]]


class Writer:
    """Runs the write path for the partitions it is given by the group (or by ``partitions``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str = GROUP_ID,
        partitions: Sequence[int] | None = None,
        instance: str | None = None,
        hooks: WriterHooks | None = None,
        max_poll_records: int = 2000,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        tune_gc()
        self.settings = settings
        self.hooks = hooks or WriterHooks()
        self.commands_topic = settings.topic("commands")
        self.events_topic = settings.topic("events")
        self.results_topic = settings.topic("results")
        self.dead_letters_topic = settings.topic("dead-letters")
        self.audit_key = (
            settings.audit_key.get_secret_value().encode() if settings.audit_key else None
        )
        self.index = EventIndex(settings.dsn)  # reads and catch-up, on the polling thread
        self.index_writer = EventIndex(settings.dsn)  # writes after commit, on the indexer
        self._indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer-index")
        self._index_pending: _IndexWrite | None = None
        self.reader = committed_reader(settings)
        self.watermarks = committed_reader(
            settings, isolation_level="read_uncommitted", client_id="supportes-watermarks"
        )
        self.consumer = group_consumer(
            settings,
            group_id,
            max_poll_records=max_poll_records,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=50,
            **dict(consumer_config or {}),
        )
        self.group_mode = partitions is None
        self.transactional_id = instance_transactional_id(
            group_id, instance if instance is not None else settings.writer_instance
        )
        self._group_lane: Lane | None = None
        self.partitions: dict[int, _Partition] = {}
        self._to_open: set[int] = set()
        self._fenced_in_a_row = 0  # group mode: fencings since the last commit
        self.ready = threading.Event()
        """Set once the writer owns partitions and has opened all of them (caught up, seeked)."""
        self._committer = ThreadPoolExecutor(
            max_workers=max(1, settings.partitions), thread_name_prefix="writer-commit"
        )
        if partitions is None:
            wait_for_topic(self.consumer, self.commands_topic, timeout_s=settings.connect_timeout_s)
            self.consumer.subscribe([self.commands_topic], listener=_Rebalance(self))
        else:
            self.consumer.assign([TopicPartition(self.commands_topic, p) for p in partitions])
            self._to_open.update(partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_timeout_ms: int = 100) -> None:
        """Process commands until ``stop`` is set; the open batch is finished first."""
        log.info(
            "writer started",
            topic=self.commands_topic,
            transactional_id=self.transactional_id if self.group_mode else "per partition",
        )
        next_prune = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_prune:
                    self._prune_processed()
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                self.run_once(poll_timeout_ms)
        finally:
            self.close()

    def run_once(self, poll_timeout_ms: int = 100) -> int:
        """One poll: one transaction per lane (group mode: one in all), committed, then indexed.

        Returns the number of records committed.
        """
        polled = self.consumer.poll(timeout_ms=poll_timeout_ms)
        metadata = self.consumer.group_metadata()  # the generation these records belong to
        just_opened = self._open_pending()
        if self.partitions and not self._to_open:
            self.ready.set()
        if self.group_mode and polled and (metadata.generation_id < 0 or not metadata.member_id):
            log.warning("no group generation; records left for after the rejoin")
            for tp, records in polled.items():
                if tp.partition not in just_opened:
                    self.consumer.seek(tp, records[0].offset)
            return 0
        began = time.monotonic()
        lanes: dict[int, tuple[Lane, list[_Taken]]] = {}
        for tp, records in polled.items():
            state = self.partitions.get(tp.partition)
            if state is None or state.fenced or tp.partition in just_opened:
                continue  # re-fetched from the committed offset after opening
            incoming = [parse_record(r.value) for r in records]
            state.batch = PendingBatch(state.number, records[0].offset, records[-1].offset)
            lanes.setdefault(id(state.lane), (state.lane, []))[1].append((state, records, incoming))
        taken = [item for _, items in lanes.values() for item in items]
        try:
            self._prefetch([(state, incoming) for state, _, incoming in taken])
        except Exception as exc:
            for lane, items in lanes.values():
                self._failed(lane, items, exc)
            return 0
        prepared: list[tuple[Lane, list[_Taken], PendingCall]] = []
        for lane, items in lanes.values():
            offsets_sent: PendingCall | None = None
            try:
                lane.begin()
                offsets_sent = self._send_offsets(lane, items, metadata)
                for state, records, incoming in items:
                    for record, parsed in zip(records, incoming, strict=True):
                        self._handle(state, record, parsed)
                    self._flush(state)
            except Exception as exc:
                # The offsets' own failure (a generation error, say) is the cause to act on:
                # a send failing after it only reports the transaction's abortable state.
                self._failed(lane, items, _failure_of(offsets_sent) or exc)
                continue
            prepared.append((lane, items, offsets_sent))
        if not prepared:
            return 0
        if len(prepared) == 1:
            failures = [self._commit(*prepared[0])]
        else:
            failures = list(self._committer.map(lambda item: self._commit(*item), prepared))
        handled = 0
        committed: list[tuple[_Partition, PendingBatch]] = []
        for (lane, items, _), failure in zip(prepared, failures, strict=True):
            if failure is not None:
                self._failed(lane, items, failure)
                continue
            for state, _, _ in items:
                assert state.batch is not None
                committed.append((state, state.batch))
                handled += self._committed(state, began)
        if committed:
            self._index_in_background(committed)
        return handled

    def _prune_processed(self) -> None:
        """Forget command ids older than the commands topic keeps commands (idempotency window)."""
        try:
            pruned = self.index.prune_processed(IDEMPOTENCY_WINDOW)
        except psycopg2.Error as exc:
            log.warning("pruning processed commands failed", error=_first_line(exc))
            self.index.reconnect()
            return
        if pruned:
            log.info("pruned processed commands", count=pruned)

    def close(self) -> None:
        """Leave the group and release producers and connections."""
        self._await_index()
        for number in list(self.partitions):
            self._drop(number)
        if self._group_lane is not None:
            self._group_lane.close()
            self._group_lane = None
        self.consumer.close()
        self.reader.close()
        self.watermarks.close()
        self._indexer.shutdown(wait=True)
        self.index.close()
        self.index_writer.close()
        self._committer.shutdown(wait=True)
        log.info("writer stopped")

    # -- partition ownership ---------------------------------------------------------------

    def _open_pending(self) -> set[int]:
        """Open newly assigned partitions (manual mode: their producers concurrently)."""
        numbers = sorted(self._to_open)
        if not numbers:
            return set()
        self._to_open.clear()
        for number in numbers:
            self._drop(number)
        if self.group_mode:
            lane = self._ensure_group_lane()
            for number in numbers:
                self._open(number, lane)
        else:
            lanes = list(self._committer.map(self._partition_lane, numbers))
            for number, lane in zip(numbers, lanes, strict=True):
                self._open(number, lane)
        return set(numbers)

    def _ensure_group_lane(self) -> Lane:
        """The process's producer; its first ``init_transactions`` aborts our own transaction
        left open by a previous life of this instance (kill -9), before any partition opens."""
        delay = 0.5
        while self._group_lane is None:
            try:
                self._group_lane = open_lane(
                    self.settings, self.transactional_id, timeout_s=CALL_TIMEOUT_S
                )
                log.info("producer ready", transactional_id=self.transactional_id)
            except (KafkaError, CallTimedOutError) as exc:
                log.warning(
                    "producer init failed",
                    transactional_id=self.transactional_id,
                    retry_in_s=delay,
                    error=_first_line(exc),
                )
                time.sleep(delay)
                delay = min(delay * 2, 10)
        return self._group_lane

    def _partition_lane(self, number: int) -> Lane:
        """Manual mode: a producer whose ``init_transactions`` fenced the previous owner."""
        return open_lane(self.settings, transactional_id(number), timeout_s=CALL_TIMEOUT_S)

    def _open(self, number: int, lane: Lane) -> None:
        """Take partition ``number`` (the order is the module docstring's): stable committed
        offset, no open transaction on events/results, catch the index up, seek."""
        self._await_index()
        began = time.monotonic()
        recorder = KafkaEventRecorder(self.index, lambda stored: self._send_event(number, stored))
        state = _Partition(number, lane, recorder)
        self.partitions[number] = state
        tp = TopicPartition(self.commands_topic, number)
        committed = stable_committed(
            self.consumer,
            tp,
            timeout_s=TAKEOVER_TIMEOUT_S,
            waiting=lambda error: log.info(
                "waiting for a stable committed offset", partition=number, error=error
            ),
        )
        indexed = self._catch_up(number)
        if committed is None:
            self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, committed)
        self.consumer.resume(tp)
        log.info(
            "partition taken",
            partition=number,
            committed_offset=committed,
            events_indexed=indexed,
            duration_ms=round((time.monotonic() - began) * 1000, 1),
        )

    def _drop(self, number: int) -> None:
        """Forget partition ``number``; under manual assignment also release its producer."""
        state = self.partitions.pop(number, None)
        if state is None or self.group_mode:
            return
        if state.batch is not None:
            # The next owner's init_transactions aborts it anyway.
            with contextlib.suppress(KafkaError, CallTimedOutError):
                transactions.abort(state.lane.producer, timeout_s=5)
        try:
            state.lane.producer.close(timeout=5)
        except KafkaError:
            log.warning("producer close failed", partition=number)

    def revoked(self, partitions: set[int]) -> None:
        """Group callback: forget partitions taken away."""
        for number in partitions:
            self._drop(number)
            self._to_open.discard(number)
        if partitions:
            log.info("partitions revoked", partitions=sorted(partitions))

    def assigned(self, partitions: set[int]) -> None:
        """Group callback: partitions to open before their records are processed."""
        self._to_open.update(partitions)
        if partitions:
            log.info("partitions assigned", partitions=sorted(partitions))

    def _catch_up(self, number: int) -> int:
        """Index what the log holds beyond the index for events and results of ``number``, once
        no transaction is open on them (only their partition's owner writes there)."""
        added = 0
        for topic in (self.events_topic, self.results_topic):
            tp = TopicPartition(topic, number)

            def waiting(stable: int, high: int, topic: str = topic) -> None:
                log.info(
                    "waiting for an open transaction to end",
                    topic=topic,
                    partition=number,
                    last_stable_offset=stable,
                    high_watermark=high,
                )

            wait_until_no_open_transaction(
                self.reader, self.watermarks, tp, timeout_s=TAKEOVER_TIMEOUT_S, waiting=waiting
            )
            start = self.index.position(topic, number)
            for records in read_to_end(self.reader, tp, start):
                added += self._index_log_records(topic, number, records)
        return added

    def _index_log_records(self, topic: str, number: int, records: list[ConsumerRecord]) -> int:
        events: list[IndexedEvent] = []
        processed: list[ProcessedCommand] = []
        for record in records:
            try:
                value = json.loads(record.value)
            except (TypeError, ValueError):
                log.error(
                    "unreadable record on the log; skipped (audit verify reports it)",
                    topic=topic,
                    partition=number,
                    offset=record.offset,
                )
                continue
            if topic == self.events_topic:
                events.append(IndexedEvent(value, topic, number, record.offset))
            elif value.get("command_id"):
                processed.append(
                    ProcessedCommand(value["command_id"], topic, number, value, record.offset)
                )
        return self.index.record(events, processed, {(topic, number): records[-1].offset + 1})

    # -- one transaction -------------------------------------------------------------------

    def _send_offsets(self, lane: Lane, items: list[_Taken], metadata: Any) -> PendingCall:
        """Add the consumed offsets of every partition of the lane to its transaction without
        waiting: the producer's network thread makes the round trips to the transaction and
        group coordinators while the batch is decided; :meth:`_commit` waits for them."""
        offsets = {
            TopicPartition(self.commands_topic, state.number): OffsetAndMetadata(
                records[-1].offset + 1, "", -1
            )
            for state, records, _ in items
        }
        for state, _, _ in items:
            self.hooks.before_send_offsets(state.number)
        return transactions.start_send_offsets(
            lane.producer, offsets, metadata, timeout_s=CALL_TIMEOUT_S
        )

    def _commit(
        self, lane: Lane, items: list[_Taken], offsets_sent: PendingCall
    ) -> BaseException | None:
        """Wait for the lane's offsets to be in its transaction and commit; return the failure
        if any."""
        try:
            offsets_sent.wait(CALL_TIMEOUT_S)
            for state, _, _ in items:
                self.hooks.before_commit(state.number)
            transactions.commit(lane.producer, timeout_s=CALL_TIMEOUT_S)
            lane.in_transaction = False
        except Exception as exc:
            return exc
        return None

    def _failed(self, lane: Lane, items: list[_Taken], exc: BaseException) -> None:
        """Recover from a failed transaction, by the kind of failure."""
        numbers = [state.number for state, _, _ in items]
        if is_fenced(exc):
            self._producer_fenced(lane, items, exc)
        elif isinstance(exc, CallTimedOutError):
            log.warning(
                "transaction outcome unknown; rebuilding", partitions=numbers, error=str(exc)
            )
            self._restart(lane, items)
        elif isinstance(exc, GENERATION_ERRORS) and self.group_mode:
            self._lost_generation(lane, items, exc)
        elif isinstance(exc, KafkaError | psycopg2.Error):
            if self._abort_and_retry(lane, items, exc) and isinstance(exc, psycopg2.Error):
                for number in numbers:
                    self._recover_index(number)
        else:
            raise exc

    def _committed(self, state: _Partition, began: float) -> int:
        """Log a committed batch; return its record count."""
        batch = state.batch
        assert batch is not None
        state.batch = None
        self._fenced_in_a_row = 0
        state.recorder.end_transaction(committed=True)
        self.hooks.after_commit(state.number)
        stats = batch.stats
        log.info(
            "batch committed",
            partition=state.number,
            first_offset=batch.first_offset,
            last_offset=batch.last_offset,
            commands=stats.commands,
            events=stats.events,
            rejected=stats.rejected,
            duplicates=stats.duplicates,
            dead_letters=stats.dead_letters,
            follow_ons=stats.follow_ons,
            duration_ms=round((time.monotonic() - began) * 1000, 1),
        )
        return batch.last_offset - batch.first_offset + 1

    def _prefetch(self, batches: list[tuple[_Partition, list[Incoming]]]) -> None:
        """Load what this poll's batches need in two queries for all partitions together:
        earlier results of their command ids, and every aggregate they touch that is not
        cached (one round trip per query, not per partition: latency is what it costs)."""
        if not batches:
            return
        wanted = {
            p.command.aggregate_id: state
            for state, incoming in batches
            for p in incoming
            if p.command is not None and p.command.aggregate_id not in state.cache
        }
        unindexed = self._index_pending.batches if self._index_pending is not None else []
        if any(aggregate_id in b.touched for b in unindexed for aggregate_id in wanted):
            self._await_index()  # left the cache before its events reached the index (rare)
            unindexed = []
        command_ids = {
            p.command_id for _, incoming in batches for p in incoming if p.command_id is not None
        }
        answered = self.index.processed(command_ids)
        for earlier in unindexed:  # answered in the cycle whose index write is in flight
            answered.update({c: earlier.answered[c] for c in command_ids & earlier.answered.keys()})
        found = self.index.envelopes_of(wanted)
        for state, incoming in batches:
            assert state.batch is not None
            state.batch.answered.update(
                {p.command_id: answered[p.command_id] for p in incoming if p.command_id in answered}
            )
        for aggregate_id, state in wanted.items():
            envelopes = found.get(aggregate_id, [])
            aggregate = rebuild(envelopes) if envelopes else None
            state.recorder.remember(aggregate_id, aggregate.version if aggregate else 0)
            if aggregate is not None:
                self._cache_put(state, aggregate_id, aggregate)

    def _handle(self, state: _Partition, record: ConsumerRecord, parsed: Incoming) -> None:
        batch = state.batch
        assert batch is not None
        batch.stats.commands += 1
        command_id = parsed.command_id
        if command_id is not None:
            first = batch.answered.get(command_id)
            if first is not None:
                batch.stats.duplicates += 1
                self._send_result(state, record.key, first, record=False)
                return
        if parsed.reason is not None:
            self._dead_letter(state, record, parsed.reason)
        if parsed.command is None:
            if command_id is not None and parsed.rejection is not None:
                result = rejected_result(command_id, parsed.aggregate_id, None, parsed.rejection)
                self._send_result(state, record.key, result)
            return
        command = parsed.command
        current = state.cache.get(command.aggregate_id)
        try:
            decision = decide(
                command, current, last_hash=last_hash_of(current), audit_key=self.audit_key
            )
        except Rejection as rejection:
            batch.stats.rejected += 1
            version = current.version if current is not None else 0
            result = rejected_result(command.command_id, command.aggregate_id, version, rejection)
            self._send_result(state, record.key, result)
            log.debug(
                "command rejected",
                case_id=str(command.aggregate_id),
                command_id=command_id,
                partition=state.number,
                offset=record.offset,
                code=rejection.code.value,
            )
            return
        except Exception as exc:  # a bug, not bad data: park it, keep the partition going
            log.exception(
                "deciding failed",
                case_id=str(command.aggregate_id),
                command_id=command_id,
                partition=state.number,
                offset=record.offset,
            )
            self._dead_letter(state, record, f"internal error: {type(exc).__name__}: {exc}")
            return
        state.recorder.insert_events([to_stored_event(e) for e in decision.events])
        batch.events.extend(decision.events)
        batch.touched.add(command.aggregate_id)
        self._cache_put(state, command.aggregate_id, decision.aggregate)
        for follow_on in decision.follow_on_commands:
            state.lane.producer.send(
                self.commands_topic,
                key=str(follow_on["aggregate_id"]).encode(),
                value=fastjson.dumps(follow_on),
            )
            batch.stats.follow_ons += 1
        batch.stats.events += len(decision.events)
        self._send_result(state, record.key, accepted_result(command, decision))

    # -- sending inside the transaction ----------------------------------------------------

    def _send_event(self, number: int, stored: StoredEvent) -> None:
        """Recorder callback: one event for partition ``number``'s share of the transaction."""
        batch = self.partitions[number].batch
        assert batch is not None
        batch.event_records.append((str(stored.originator_id).encode(), stored.state, None))

    def _send_result(
        self, state: _Partition, key: bytes | None, result: dict[str, Any], *, record: bool = True
    ) -> None:
        batch = state.batch
        assert batch is not None
        if record and result.get("command_id"):
            batch.answered[result["command_id"]] = result
            batch.to_index.append((len(batch.result_records), result))
        batch.result_records.append(
            (key or (result.get("aggregate_id") or "").encode(), fastjson.dumps(result), None)
        )

    def _flush(self, state: _Partition) -> None:
        """Hand the partition's decided records to the producer, a topic at a time (one
        accumulator lock per run of records, not per record: ``send_many``)."""
        batch = state.batch
        assert batch is not None
        producer, number = state.lane.producer, state.number
        batch.event_futures = send_many(producer, self.events_topic, number, batch.event_records)
        batch.result_futures = send_many(producer, self.results_topic, number, batch.result_records)
        send_many(producer, self.dead_letters_topic, number, batch.dead_letters)

    def _dead_letter(self, state: _Partition, record: ConsumerRecord, reason: str) -> None:
        assert state.batch is not None
        state.batch.stats.dead_letters += 1
        state.batch.dead_letters.append(
            (record.key, dead_letter_value(record), dead_letter_headers(record, reason))
        )
        log.warning(
            "command dead-lettered", partition=state.number, offset=record.offset, reason=reason
        )

    # -- after commit / on failure ---------------------------------------------------------

    def _index_in_background(self, committed: list[tuple[_Partition, PendingBatch]]) -> None:
        """Write the committed batches to the index in one PostgreSQL transaction, on the
        indexer thread (its own connection), overlapping the whole next cycle.

        Until it is awaited, :meth:`_prefetch` answers repeated command ids from these batches
        and waits for it before loading an aggregate they touched (one no longer cached)."""
        self._await_index()  # one write in flight at a time, in commit order
        events: list[IndexedEvent] = []
        processed: list[ProcessedCommand] = []
        positions: dict[tuple[str, int], int] = {}
        for state, batch in committed:
            for envelope, future in zip(batch.events, batch.event_futures, strict=True):
                offset = _offset(future)
                events.append(IndexedEvent(envelope, self.events_topic, state.number, offset))
                positions[(self.events_topic, state.number)] = offset + 1
            for at, result in batch.to_index:
                offset = _offset(batch.result_futures[at])
                processed.append(
                    ProcessedCommand(
                        result["command_id"], self.results_topic, state.number, result, offset
                    )
                )
                positions[(self.results_topic, state.number)] = offset + 1
        future = self._indexer.submit(self.index_writer.record, events, processed, positions)
        self._index_pending = _IndexWrite(
            future, [state.number for state, _ in committed], [batch for _, batch in committed]
        )

    def _await_index(self) -> None:
        """Wait for the last index write; on failure re-index its partitions from the log."""
        if self._index_pending is None:
            return
        future, numbers = self._index_pending.future, self._index_pending.partitions
        self._index_pending = None
        try:
            future.result()
        except Exception as exc:  # the log is the truth: re-index from it when PG is back
            log.error(
                "indexing failed; catching up from the log",
                partitions=numbers,
                error=_first_line(exc),
            )
            with contextlib.suppress(Exception):
                self.index_writer.reconnect()
            for number in numbers:
                if number in self.partitions:
                    self._recover_index(number)

    def _recover_index(self, number: int) -> None:
        delay = 0.5
        while True:
            try:
                self.index.reconnect()
                self._catch_up(number)
                return
            except Exception as exc:
                log.warning(
                    "index unavailable", partition=number, retry_in_s=delay, error=_first_line(exc)
                )
                time.sleep(delay)
                delay = min(delay * 2, 10)

    def _producer_fenced(self, lane: Lane, items: list[_Taken], exc: BaseException) -> None:
        if not self.group_mode:  # another owner's init_transactions took the partition
            for state, _, _ in items:
                self._fenced(state, exc)
            return
        self._fenced_in_a_row += 1
        pause = FENCED_BACKOFF_S * min(2 ** (self._fenced_in_a_row - 1), 16)
        pause *= random.uniform(0.5, 1.5)
        log.error(
            "producer fenced: another live writer has this instance id, or the transaction"
            " outlived its timeout; starting over with a new producer",
            transactional_id=lane.transactional_id,
            error=type(exc).__name__,
            pause_s=round(pause, 2),
        )
        # Two live writers with one id fence each other at every init_transactions: without a
        # randomised, growing pause they can keep doing so before either commits (livelock).
        time.sleep(pause)
        self._restart(lane, items)

    def _fenced(self, state: _Partition, exc: BaseException) -> None:
        log.warning(
            "fenced: another writer owns the partition",
            partition=state.number,
            error=type(exc).__name__,
        )
        state.lane.in_transaction = False
        state.batch = None
        state.fenced = True
        state.cache.clear()
        state.recorder.forget()
        self.consumer.pause(TopicPartition(self.commands_topic, state.number))

    def _lost_generation(self, lane: Lane, items: list[_Taken], exc: BaseException) -> None:
        """A zombie: abort (nothing of the cycle becomes visible), forget every partition, and
        re-open what the group assigns after the rejoin (or, if nothing changes, the same)."""
        numbers = sorted(self.partitions)
        log.warning(
            "group generation lost: aborting and dropping every partition",
            partitions=numbers,
            first_offsets={state.number: records[0].offset for state, records, _ in items},
            error=_first_line(exc),
        )
        if not self._abort(lane, items):
            return
        for number in numbers:
            self._drop(number)
        self._to_open.update(tp.partition for tp in self.consumer.assignment())

    def _abort_and_retry(self, lane: Lane, items: list[_Taken], exc: BaseException) -> bool:
        """Abort and re-read the transaction's records; False if the lane had to restart."""
        log.warning(
            "transaction failed; aborting and retrying",
            first_offsets={state.number: records[0].offset for state, records, _ in items},
            error=f"{type(exc).__name__}: {exc}",
        )
        if not self._abort(lane, items):
            return False
        for state, records, _ in items:
            self.consumer.seek(TopicPartition(self.commands_topic, state.number), records[0].offset)
        return True

    def _abort(self, lane: Lane, items: list[_Taken]) -> bool:
        """Abort the lane's transaction and forget its batches; False when the abort failed
        (the lane was restarted or fenced instead)."""
        if lane.in_transaction:
            try:
                transactions.abort(lane.producer, timeout_s=CALL_TIMEOUT_S)
            except (KafkaError, CallTimedOutError) as exc:
                if is_fenced(exc):
                    self._producer_fenced(lane, items, exc)
                else:
                    log.warning("abort failed; rebuilding", error=_first_line(exc))
                    self._restart(lane, items)
                return False
            lane.in_transaction = False
        for state, _, _ in items:
            self._forget_batch(state)
        return True

    def _forget_batch(self, state: _Partition) -> None:
        if state.batch is not None:
            for aggregate_id in state.batch.touched:
                state.cache.pop(aggregate_id, None)
        state.batch = None
        state.recorder.end_transaction(committed=False)

    def _restart(self, lane: Lane, items: list[_Taken]) -> None:
        """Outcome unknown or producer dead: re-open the lane's partitions at the next poll, with
        a new producer whose ``init_transactions`` aborts whatever the old one left open."""
        lane.in_transaction = False
        if self.group_mode:
            numbers = sorted(self.partitions)
            for number in numbers:
                self._drop(number)
            if self._group_lane is lane:
                self._group_lane = None
            lane.close(timeout_s=0)
        else:
            numbers = [state.number for state, _, _ in items]
            for state, _, _ in items:
                state.batch = None  # no abort: the new producer's init_transactions does it
        self._to_open.update(numbers)

    def _cache_put(self, state: _Partition, aggregate_id: UUID, aggregate: AnyAggregate) -> None:
        state.cache[aggregate_id] = aggregate
        state.cache.move_to_end(aggregate_id)
        while len(state.cache) > CACHE_SIZE:
            state.cache.popitem(last=False)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.writer.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.writer.assigned({tp.partition for tp in assigned})


def _failure_of(call: PendingCall | None) -> BaseException | None:
    """What a started call failed with, once it has ended (None if it succeeded or never
    started)."""
    return None if call is None else call.outcome(CALL_TIMEOUT_S)


def _offset(future: FutureRecordMetadata) -> int:
    """The log offset of a record sent in a committed transaction (its future is done then;
    ``get`` costs a timer per call, which adds up over thousands of records)."""
    if future.is_done and future.succeeded():
        return int(future.value.offset)
    return int(future.get(timeout=10).offset)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
