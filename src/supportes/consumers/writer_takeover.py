"""Taking and giving up the writer's partitions: the lane (producer) each is written through, and
the catch-up of the index from the log before a partition's first command is decided.

Taking partition p, in this order: (1) the committed offset, fetched stable (read_committed
sends ``require_stable``: the broker answers UNSTABLE_OFFSET_COMMIT while a previous owner's
transactional offset commit is pending; retried); (2) wait until no transaction is open on
events/results p (last stable offset == high watermark; a decided transaction's markers may
be in flight, a zombie's open one is about to abort); (3) catch the index up from events and
results p (read_committed, to the end); (4) seek to the committed offset. Every transaction
whose offsets count as committed is then in the index, and no other can commit offsets.

A committed offset that stays unstable past every transaction's timeout (the coordinator has
aborted any open one by then) is a *stale pending offset commit*: a ``TxnOffsetCommit`` of this
writer's own producer that reached the group coordinator after its transaction had ended (a
request retried across a broker restart; Kafka fixes this only for EndTxn v5 clients, KIP-890).
It would stay pending for ever, and the next commit marker of our producer id would make it the
group's offset: the offset after a batch that was aborted, whose commands would be skipped. The
writer then commits one transaction holding only the group's *materialised* committed offsets
(fetched without ``require_stable``) for every partition it is assigned: that replaces the stale
values before any marker can apply them. A pending commit of another producer (a live zombie)
is untouched by it, and the partition waits on, as before.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from eventsourcing.persistence import StoredEvent
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from supportes.consumers.dependencies import KAFKA, Backoff, Stopping
from supportes.consumers.ownership import (
    TRANSACTION_TIMEOUT_MS,
    Lane,
    open_lane,
    partition_transactional_id,
    stable_committed,
)
from supportes.consumers.records import digest_header
from supportes.consumers.writer_state import CALL_TIMEOUT_S, PartitionState
from supportes.eventstore.index import EventIndex, IndexedEvent, ProcessedCommand
from supportes.eventstore.recorder import KafkaEventRecorder
from supportes.logs import get_logger
from supportes.messaging import transactions
from supportes.messaging.clients import Component, connection_config
from supportes.messaging.guard import CallTimedOutError
from supportes.messaging.log_reader import read_to_end, wait_until_no_open_transaction
from supportes.observability.writer_metrics import WriterMetrics
from supportes.settings import Settings

log = get_logger("writer")

# Taking a partition waits for a previous owner's transaction; the coordinator aborts an
# abandoned one after TRANSACTION_TIMEOUT_MS (checked every 10 s by default): a generous bound.
TAKEOVER_TIMEOUT_S = 4 * TRANSACTION_TIMEOUT_MS / 1000 + 60
# Still unstable after this long, no live transaction explains it: see "stale pending" above.
STALE_PENDING_AFTER_S = TRANSACTION_TIMEOUT_MS / 1000 + 15
transactional_id = partition_transactional_id  # the name design section 2 uses


class LogCatchUp:
    """Indexes what the events and results log of a partition holds beyond the index."""

    def __init__(
        self,
        index: EventIndex,
        reader: KafkaConsumer,
        watermarks: KafkaConsumer,
        *,
        events_topic: str,
        results_topic: str,
        backoff: Backoff,
    ) -> None:
        self.backoff = backoff
        self.index = index
        self.reader = reader
        self.watermarks = watermarks
        self.events_topic = events_topic
        self.results_topic = results_topic

    def catch_up(self, number: int) -> int:
        """Index what the log holds beyond the index for events and results of ``number``, once
        no transaction is open on them (only their partition's owner writes there)."""
        added = 0
        for topic in (self.events_topic, self.results_topic):
            tp = TopicPartition(topic, number)

            def waiting(stable: int, high: int, topic: str = topic) -> None:
                if self.backoff.stop.is_set():
                    raise Stopping
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
            if not isinstance(value, dict):
                log.error(
                    "record on the log is not a JSON object; skipped (audit verify reports it)",
                    topic=topic,
                    partition=number,
                    offset=record.offset,
                )
            elif topic == self.events_topic:
                events.append(IndexedEvent(value, topic, number, record.offset, record.value))
            elif value.get("command_id"):
                processed.append(
                    ProcessedCommand(
                        value["command_id"],
                        topic,
                        number,
                        value,
                        record.offset,
                        digest_header(record.headers),
                        record.value,
                    )
                )
        return self.index.record(events, processed, {(topic, number): records[-1].offset + 1})


class Takeover:
    """The writer's owned partitions: opened when assigned, dropped when revoked or lost.

    ``partitions`` and ``to_open`` are the writer's own (shared, mutated in place);
    ``group_lane`` is the process's producer in group mode, opened before the first partition.
    """

    def __init__(
        self,
        settings: Settings,
        consumer: KafkaConsumer,
        index: EventIndex,
        *,
        commands_topic: str,
        group_mode: bool,
        transactional_id: str,
        partitions: dict[int, PartitionState],
        to_open: set[int],
        committer: ThreadPoolExecutor,
        catch_up: Callable[[int], int],
        await_index: Callable[[], None],
        send_event: Callable[[int, StoredEvent], None],
        backoff: Backoff,
        metrics: WriterMetrics | None = None,
    ) -> None:
        self.backoff = backoff
        self.settings = settings
        self.consumer = consumer
        self.index = index
        self.commands_topic = commands_topic
        self.group_mode = group_mode
        self.transactional_id = transactional_id
        self.partitions = partitions
        self.to_open = to_open
        self.group_lane: Lane | None = None
        self._committer = committer
        self._catch_up = catch_up
        self._await_index = await_index
        self._send_event = send_event
        self._metrics = metrics or WriterMetrics(enabled=False)

    def open_pending(self) -> set[int]:
        """Open newly assigned partitions (manual mode: their producers concurrently)."""
        numbers = sorted(self.to_open)
        if not numbers:
            return set()
        self.to_open.clear()
        for number in numbers:
            self.drop(number)
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
        while self.group_lane is None:
            try:
                self.group_lane = open_lane(
                    self.settings, self.transactional_id, timeout_s=CALL_TIMEOUT_S
                )
                log.info("producer ready", transactional_id=self.transactional_id)
            except (KafkaError, CallTimedOutError) as exc:
                log.warning("producer init failed", transactional_id=self.transactional_id)
                self.backoff.wait(KAFKA, exc, transactional_id=self.transactional_id)
        return self.group_lane

    def _partition_lane(self, number: int) -> Lane:
        """Manual mode: a producer whose ``init_transactions`` fenced the previous owner."""
        return open_lane(self.settings, transactional_id(number), timeout_s=CALL_TIMEOUT_S)

    def _open(self, number: int, lane: Lane) -> None:
        """Take partition ``number`` (the order is the module docstring's): stable committed
        offset, no open transaction on events/results, catch the index up, seek."""
        self._await_index()
        began = time.monotonic()
        recorder = KafkaEventRecorder(self.index, lambda stored: self._send_event(number, stored))
        state = PartitionState(number, lane, recorder)
        self.partitions[number] = state
        tp = TopicPartition(self.commands_topic, number)
        committed = self._stable_committed(tp, lane)
        indexed = self._catch_up(number)
        if committed is None:
            self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, committed)
        self.consumer.resume(tp)
        self._metrics.takeover(time.monotonic() - began)
        log.info(
            "partition taken",
            partition=number,
            committed_offset=committed,
            events_indexed=indexed,
            duration_ms=round((time.monotonic() - began) * 1000, 1),
        )

    def _stable_committed(self, tp: TopicPartition, lane: Lane) -> int | None:
        """The group's committed offset of ``tp`` once stable; in group mode, stale pending
        offset commits of our own producer are replaced first when it stays unstable."""

        def waiting(error: str) -> None:
            self._waiting_for_stable_offset(tp.partition, error)

        if not self.group_mode:
            return stable_committed(
                self.consumer, tp, timeout_s=TAKEOVER_TIMEOUT_S, waiting=waiting
            )
        try:
            return stable_committed(
                self.consumer, tp, timeout_s=STALE_PENDING_AFTER_S, waiting=waiting
            )
        except KafkaError as exc:
            if not exc.retriable:
                raise
        replace_stale_pending_offsets(self.settings, self.consumer, lane, self.commands_topic)
        return stable_committed(self.consumer, tp, timeout_s=TAKEOVER_TIMEOUT_S, waiting=waiting)

    def _waiting_for_stable_offset(self, number: int, error: str) -> None:
        if self.backoff.stop.is_set():
            raise Stopping
        log.info("waiting for a stable committed offset", partition=number, error=error)

    def reset(self) -> None:
        """After an outage: drop every partition and the group producer (the next producer's
        ``init_transactions`` aborts whatever was left open) and re-open what the consumer is
        assigned at the next poll."""
        for number in list(self.partitions):
            self.drop(number)
        if self.group_lane is not None:
            self.group_lane.in_transaction = False
            self.group_lane.close(timeout_s=0)
            self.group_lane = None
        self.to_open.update(tp.partition for tp in self.consumer.assignment())

    def drop(self, number: int) -> None:
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

    def release_group_lane(self, lane: Lane) -> None:
        """Stop using ``lane`` as the group producer (the next open makes a new one)."""
        if self.group_lane is lane:
            self.group_lane = None

    def revoked(self, partitions: set[int]) -> None:
        """Group callback: forget partitions taken away."""
        for number in partitions:
            self.drop(number)
            self.to_open.discard(number)
        if partitions:
            log.info("partitions revoked", partitions=sorted(partitions))

    def assigned(self, partitions: set[int]) -> None:
        """Group callback: partitions to open before their records are processed."""
        self.to_open.update(partitions)
        if partitions:
            log.info("partitions assigned", partitions=sorted(partitions))

    def close(self) -> None:
        """Drop every partition and release the group producer."""
        for number in list(self.partitions):
            self.drop(number)
        if self.group_lane is not None:
            self.group_lane.close()
            self.group_lane = None


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Passes the group's revocations and assignments on to the writer."""

    def __init__(self, owner: Takeover) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.owner.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.assigned({tp.partition for tp in assigned})


def replace_stale_pending_offsets(
    settings: Settings, consumer: KafkaConsumer, lane: Lane, commands_topic: str
) -> dict[int, int]:
    """Commit a transaction on ``lane`` of only the materialised committed offsets of every
    partition ``consumer`` is assigned (0 where none): the lane's producer's stale pending
    commits are overwritten, so no later commit marker can apply them. Returns the offsets
    written, by partition."""
    assigned = sorted(
        (tp for tp in consumer.assignment() if tp.topic == commands_topic),
        key=lambda tp: tp.partition,
    )
    materialised = materialised_committed(settings, str(consumer.config["group_id"]), assigned)
    log.warning(
        "committed offset still unstable: replacing this writer's stale pending offset"
        " commits with the group's committed offsets",
        transactional_id=lane.transactional_id,
        offsets={tp.partition: offset for tp, offset in materialised.items()},
    )
    lane.begin()
    transactions.start_send_offsets(
        lane.producer,
        {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in materialised.items()},
        consumer.group_metadata(),
        timeout_s=CALL_TIMEOUT_S,
    ).wait(CALL_TIMEOUT_S)
    transactions.commit(lane.producer, timeout_s=CALL_TIMEOUT_S)
    lane.in_transaction = False
    return {tp.partition: offset for tp, offset in materialised.items()}


def materialised_committed(
    settings: Settings, group_id: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offsets as materialised (an OffsetFetch without
    ``require_stable``: pending transactional commits are not waited for), 0 where none."""
    consumer = KafkaConsumer(
        **connection_config(settings, Component.WRITER),
        group_id=group_id,
        client_id=f"{group_id}-offsets",
        enable_auto_commit=False,
        isolation_level="read_uncommitted",
    )
    try:
        return {tp: consumer.committed(tp, timeout_ms=10_000) or 0 for tp in partitions}
    finally:
        consumer.close(autocommit=False)
