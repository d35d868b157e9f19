"""The command writer: exactly-once command processing with one fenced writer per partition.

Consumer group ``supportes-writer`` reads ``<prefix>.commands``. For each partition p it owns, the
writer keeps a transactional producer with ``transactional_id = supportes-writer-p{p}``:
``init_transactions()`` by a new owner aborts (or completes) the previous owner's transaction and
fences it. Before deciding anything on p, the event index is caught up from ``<prefix>.events``
and ``<prefix>.results`` partition p (read_committed, up to the end offset) and the consumer is
re-positioned at the group's committed offset.

Each poll batch of partition p is ONE Kafka transaction holding its events (events topic,
partition p), results (results topic, partition p), follow-on commands (their own aggregate's
partition), dead letters, and the consumed offsets (``send_offsets_to_transaction``). After the
commit the batch is written to the event index with its offsets.

Failure handling: fenced → give the partition up (pause it until the group revokes it); an
abortable error → abort and retry the batch; a call that timed out or failed to abort (outcome
unknown) → new producer, catch up from the log, re-seek, decide again. Idempotency: a command
id already answered gets its first result again and writes no event.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg2
from eventsourcing.persistence import StoredEvent
from kafka import ConsumerRebalanceListener, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    TransactionCoordinatorFencedError,
)
from kafka.structs import OffsetAndMetadata

from supportes.aggregates import (
    AnyAggregate,
    Rejection,
    canonical_json,
    decide,
    last_hash_of,
    rebuild,
)
from supportes.aggregates.dispatch import accepted_result, rejected_result
from supportes.consumers.batch import PendingBatch
from supportes.consumers.records import Incoming, parse_record
from supportes.eventstore.index import EventIndex, IndexedEvent, ProcessedCommand
from supportes.eventstore.recorder import KafkaEventRecorder, to_stored_event
from supportes.logs import get_logger
from supportes.messaging.clients import (
    committed_reader,
    group_consumer,
    transactional_producer,
)
from supportes.messaging.dead_letters import dead_letter_headers
from supportes.messaging.guard import CallTimedOutError, guarded
from supportes.messaging.log_reader import read_to_end
from supportes.settings import Settings

log = get_logger("writer")

GROUP_ID = "supportes-writer"
FENCED_ERRORS = (ProducerFencedError, InvalidProducerEpochError, TransactionCoordinatorFencedError)
CACHE_SIZE = 20_000
CALL_TIMEOUT_S = 30.0
PRUNE_EVERY_S = 600.0
IDEMPOTENCY_WINDOW = timedelta(days=8)  # the commands topic keeps 7 days; one day of margin


def transactional_id(partition: int) -> str:
    """The fixed transactional id of the writer of ``partition`` (design section 2)."""
    return f"supportes-writer-p{partition}"


class PartitionFencedError(Exception):
    """Another writer took this partition; this one must stop writing to it."""


@dataclass
class WriterHooks:
    """Test seams: called at points where a crash or a zombie is most interesting."""

    before_commit: Callable[[int], None] = lambda partition: None
    after_commit: Callable[[int], None] = lambda partition: None


@dataclass
class _Partition:
    """What the writer holds for one owned partition."""

    number: int
    producer: KafkaProducer
    recorder: KafkaEventRecorder
    cache: OrderedDict[UUID, AnyAggregate] = field(default_factory=OrderedDict)
    batch: PendingBatch | None = None
    fenced: bool = False


class Writer:
    """Runs the write path for the partitions it is given by the group (or by ``partitions``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str = GROUP_ID,
        partitions: Sequence[int] | None = None,
        hooks: WriterHooks | None = None,
        max_poll_records: int = 2000,
    ) -> None:
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
        self._index_pending: tuple[Future[int], list[int]] | None = None
        self.reader = committed_reader(settings)
        self.consumer = group_consumer(
            settings,
            group_id,
            max_poll_records=max_poll_records,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=50,
        )
        self.partitions: dict[int, _Partition] = {}
        self._to_open: set[int] = set()
        self.ready = threading.Event()
        """Set once the writer owns partitions and has opened all of them (caught up, seeked)."""
        self._committer = ThreadPoolExecutor(
            max_workers=max(1, settings.partitions), thread_name_prefix="writer-commit"
        )
        if partitions is None:
            self.consumer.subscribe([self.commands_topic], listener=_Rebalance(self))
        else:
            self.consumer.assign([TopicPartition(self.commands_topic, p) for p in partitions])
            self._to_open.update(partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_timeout_ms: int = 100) -> None:
        """Process commands until ``stop`` is set; the open batch is finished first."""
        log.info("writer started", topic=self.commands_topic)
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
        """One poll: prepare a transaction per partition, commit them concurrently, index them.

        Returns the number of records committed.
        """
        polled = self.consumer.poll(timeout_ms=poll_timeout_ms)
        self._await_index()  # the previous poll's index write ran during this poll
        just_opened = self._open_pending()
        if self.partitions and not self._to_open:
            self.ready.set()
        began = time.monotonic()
        taken: list[tuple[_Partition, list[ConsumerRecord], list[Incoming]]] = []
        for tp, records in polled.items():
            state = self.partitions.get(tp.partition)
            if state is None or state.fenced or tp.partition in just_opened:
                continue  # re-fetched from the committed offset after opening
            incoming = [parse_record(r.value) for r in records]
            state.batch = PendingBatch(state.number, records[0].offset, records[-1].offset)
            taken.append((state, records, incoming))
        try:
            self._prefetch([(state, incoming) for state, _, incoming in taken])
        except Exception as exc:
            for state, records, _ in taken:
                self._failed(state, records, exc)
            return 0
        prepared: list[tuple[_Partition, list[ConsumerRecord]]] = []
        for state, records, incoming in taken:
            try:
                self._decide_into_transaction(state, records, incoming)
            except Exception as exc:
                self._failed(state, records, exc)
                continue
            prepared.append((state, records))
        if not prepared:
            return 0
        metadata = self.consumer.group_metadata()
        failures = list(
            self._committer.map(lambda item: self._commit(item[0], item[1], metadata), prepared)
        )
        handled = 0
        committed: list[tuple[_Partition, PendingBatch]] = []
        for (state, records), failure in zip(prepared, failures, strict=True):
            if failure is not None:
                self._failed(state, records, failure)
            else:
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
        self.consumer.close()
        self.reader.close()
        self._indexer.shutdown(wait=True)
        self.index.close()
        self.index_writer.close()
        self._committer.shutdown(wait=True)
        log.info("writer stopped")

    # -- partition ownership ---------------------------------------------------------------

    def _open_pending(self) -> set[int]:
        """Open newly assigned partitions; their producers are initialised concurrently."""
        numbers = sorted(self._to_open)
        self._to_open.clear()
        for number in numbers:
            self._drop(number)
        producers = list(self._committer.map(self._new_producer, numbers))
        for number, producer in zip(numbers, producers, strict=True):
            self._open(number, producer)
        return set(numbers)

    def _new_producer(self, number: int) -> KafkaProducer:
        """A producer for ``number`` whose ``init_transactions`` fenced the previous owner."""
        producer = transactional_producer(self.settings, transactional_id(number))
        guarded(producer.init_transactions, timeout_s=CALL_TIMEOUT_S, what="init_transactions")
        return producer

    def _open(self, number: int, producer: KafkaProducer | None = None) -> None:
        """Take partition ``number``: fence the previous owner, catch up, seek to committed."""
        self._await_index()
        self._drop(number)
        began = time.monotonic()
        producer = producer or self._new_producer(number)
        recorder = KafkaEventRecorder(self.index, lambda stored: self._send_event(number, stored))
        state = _Partition(number, producer, recorder)
        self.partitions[number] = state
        indexed = self._catch_up(number)
        tp = TopicPartition(self.commands_topic, number)
        committed = self.consumer.committed(tp)
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
        state = self.partitions.pop(number, None)
        if state is None:
            return
        if state.batch is not None:
            # The next owner's init_transactions aborts it anyway.
            with contextlib.suppress(KafkaError, CallTimedOutError):
                guarded(state.producer.abort_transaction, timeout_s=5, what="abort_transaction")
        try:
            state.producer.close(timeout=5)
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
        """Index what the log holds beyond the index for events and results of ``number``."""
        added = 0
        for topic in (self.events_topic, self.results_topic):
            tp = TopicPartition(topic, number)
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

    # -- one batch -------------------------------------------------------------------------

    def _decide_into_transaction(
        self, state: _Partition, records: list[ConsumerRecord], incoming: list[Incoming]
    ) -> None:
        """Open the partition's transaction and decide its (prefetched) records into it."""
        state.producer.begin_transaction()
        for record, parsed in zip(records, incoming, strict=True):
            self._handle(state, record, parsed)

    def _commit(
        self, state: _Partition, records: list[ConsumerRecord], metadata: Any
    ) -> BaseException | None:
        """Add the consumed offsets and commit (on a worker thread); return the failure if any."""
        offsets = {
            TopicPartition(self.commands_topic, state.number): OffsetAndMetadata(
                records[-1].offset + 1, "", -1
            )
        }
        try:
            guarded(
                lambda: state.producer.send_offsets_to_transaction(offsets, metadata),
                timeout_s=CALL_TIMEOUT_S,
                what="send_offsets_to_transaction",
            )
            self.hooks.before_commit(state.number)
            guarded(state.producer.commit_transaction, timeout_s=CALL_TIMEOUT_S, what="commit")
        except Exception as exc:
            return exc
        return None

    def _failed(self, state: _Partition, records: list[ConsumerRecord], exc: BaseException) -> None:
        """Recover a partition whose transaction failed, by the kind of failure."""
        if isinstance(exc, FENCED_ERRORS):
            self._fenced(state, exc)
        elif isinstance(exc, CallTimedOutError):
            log.warning(
                "transaction outcome unknown; rebuilding", partition=state.number, error=str(exc)
            )
            self._reopen(state.number)
        elif isinstance(exc, KafkaError):
            self._abort_and_retry(state, records[0].offset, exc)
        elif isinstance(exc, psycopg2.Error):
            self._abort_and_retry(state, records[0].offset, exc)
            self._recover_index(state.number)
        else:
            raise exc

    def _committed(self, state: _Partition, began: float) -> int:
        """Index a committed batch and log it; return its record count."""
        batch = state.batch
        assert batch is not None
        state.batch = None
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
        answered = self.index.processed(
            {p.command_id for _, incoming in batches for p in incoming if p.command_id is not None}
        )
        wanted = {
            p.command.aggregate_id: state
            for state, incoming in batches
            for p in incoming
            if p.command is not None and p.command.aggregate_id not in state.cache
        }
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
            state.producer.send(
                self.commands_topic,
                key=str(follow_on["aggregate_id"]).encode(),
                value=canonical_json(follow_on),
            )
            batch.stats.follow_ons += 1
        batch.stats.events += len(decision.events)
        self._send_result(state, record.key, accepted_result(command, decision))

    # -- sending inside the transaction ----------------------------------------------------

    def _send_event(self, number: int, stored: StoredEvent) -> None:
        """Recorder callback: put one event on the log inside partition ``number``'s transaction."""
        state = self.partitions[number]
        future = state.producer.send(
            self.events_topic,
            key=str(stored.originator_id).encode(),
            value=stored.state,
            partition=state.number,
        )
        assert state.batch is not None
        state.batch.event_futures.append(future)

    def _send_result(
        self, state: _Partition, key: bytes | None, result: dict[str, Any], *, record: bool = True
    ) -> None:
        batch = state.batch
        assert batch is not None
        future = state.producer.send(
            self.results_topic,
            key=key or (result.get("aggregate_id") or "").encode(),
            value=json.dumps(result, separators=(",", ":")).encode(),
            partition=state.number,
        )
        if record and result.get("command_id"):
            batch.answered[result["command_id"]] = result
            batch.results.append((result, future))

    def _dead_letter(self, state: _Partition, record: ConsumerRecord, reason: str) -> None:
        assert state.batch is not None
        state.batch.stats.dead_letters += 1
        state.producer.send(
            self.dead_letters_topic,
            key=record.key,
            value=record.value,
            partition=state.number,
            headers=dead_letter_headers(record, reason),
        )
        log.warning(
            "command dead-lettered", partition=state.number, offset=record.offset, reason=reason
        )

    # -- after commit / on failure ---------------------------------------------------------

    def _index_in_background(self, committed: list[tuple[_Partition, PendingBatch]]) -> None:
        """Write the committed batches to the index in one PostgreSQL transaction, on the
        indexer thread (its own connection), overlapping the next poll."""
        events: list[IndexedEvent] = []
        processed: list[ProcessedCommand] = []
        positions: dict[tuple[str, int], int] = {}
        for state, batch in committed:
            for envelope, future in zip(batch.events, batch.event_futures, strict=True):
                offset = future.get(timeout=10).offset
                events.append(IndexedEvent(envelope, self.events_topic, state.number, offset))
                positions[(self.events_topic, state.number)] = offset + 1
            for result, future in batch.results:
                offset = future.get(timeout=10).offset
                processed.append(
                    ProcessedCommand(
                        result["command_id"], self.results_topic, state.number, result, offset
                    )
                )
                positions[(self.results_topic, state.number)] = offset + 1
        numbers = [state.number for state, _ in committed]
        future = self._indexer.submit(self.index_writer.record, events, processed, positions)
        self._index_pending = (future, numbers)

    def _await_index(self) -> None:
        """Wait for the last index write; on failure re-index its partitions from the log."""
        if self._index_pending is None:
            return
        future, numbers = self._index_pending
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

    def _fenced(self, state: _Partition, exc: Exception) -> None:
        log.warning(
            "fenced: another writer owns the partition",
            partition=state.number,
            error=type(exc).__name__,
        )
        state.batch = None
        state.fenced = True
        state.cache.clear()
        state.recorder.forget()
        self.consumer.pause(TopicPartition(self.commands_topic, state.number))

    def _abort_and_retry(self, state: _Partition, first_offset: int, exc: Exception) -> None:
        log.warning(
            "transaction failed; aborting and retrying",
            partition=state.number,
            error=f"{type(exc).__name__}: {exc}",
        )
        try:
            guarded(state.producer.abort_transaction, timeout_s=CALL_TIMEOUT_S, what="abort")
        except FENCED_ERRORS as fenced:
            self._fenced(state, fenced)
            return
        except (KafkaError, CallTimedOutError):
            self._reopen(state.number)
            return
        self._forget_batch(state)
        self.consumer.seek(TopicPartition(self.commands_topic, state.number), first_offset)

    def _forget_batch(self, state: _Partition) -> None:
        if state.batch is not None:
            for aggregate_id in state.batch.touched:
                state.cache.pop(aggregate_id, None)
        state.batch = None
        state.recorder.end_transaction(committed=False)

    def _reopen(self, number: int) -> None:
        """Outcome unknown: start over from the log with a fresh producer."""
        state = self.partitions.get(number)
        if state is not None:
            state.batch = None
        self._open(number)

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
