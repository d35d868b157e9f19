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
      Two live writers with one instance fence each other's producer (see
      :mod:`~supportes.consumers.writer_recovery`).
    - A zombie (it lost its membership while stalled) is fenced by the generation in its offsets
      (:mod:`~supportes.consumers.writer_recovery`).
    - Taking a partition: :mod:`~supportes.consumers.writer_takeover`.

Manual assignment (``Writer(partitions=[...])``, tests and tools)
    Without a group generation there is nothing to fence by, so design section 2 applies: one
    producer and one transaction per partition, ``transactional_id = supportes-writer-p{p}``; a new
    owner's ``init_transactions`` aborts and fences the old one. Never run it beside a group-mode
    writer of the same topics (different ids: they would not fence each other).

After the commit the cycle's batches are written to the event index with their offsets
(:mod:`~supportes.consumers.writer_index`); failures are recovered from by their kind
(:mod:`~supportes.consumers.writer_recovery`). Deciding the records:
:mod:`~supportes.consumers.writer_decide`. Idempotency: a command id already answered gets its
first result again and writes no event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from supportes.consumers.batch import PendingBatch
from supportes.consumers.dependencies import Backoff, Stopping, dependency_of
from supportes.consumers.ownership import Lane, instance_transactional_id
from supportes.consumers.records import parse_record
from supportes.consumers.writer_decide import CommandDecider
from supportes.consumers.writer_index import CommitIndexer, IndexWrite
from supportes.consumers.writer_lookup import IDEMPOTENCY_WINDOW, prefetch, prune_processed
from supportes.consumers.writer_membership import STALLED_SESSIONS, MembershipWatch
from supportes.consumers.writer_recovery import (
    FENCED_BACKOFF_S,
    PartitionFencedError,
    Recovery,
    ride_out,
)
from supportes.consumers.writer_state import (
    CACHE_SIZE,
    CALL_TIMEOUT_S,
    PartitionState,
    Taken,
    first_line,
)
from supportes.consumers.writer_takeover import (
    TAKEOVER_TIMEOUT_S,
    LogCatchUp,
    RebalanceListener,
    Takeover,
    transactional_id,
)
from supportes.consumers.writer_transaction import (
    WriterHooks,
    commit,
    committed_batch,
    failure_of,
    send_offsets,
)
from supportes.eventstore.index import Answer, EventIndex
from supportes.logs import get_logger
from supportes.messaging.clients import (
    Component,
    committed_reader,
    group_consumer,
    subscribe_known,
)
from supportes.messaging.transactions import PendingCall
from supportes.observability.writer_metrics import WriterMetrics
from supportes.runtime import tune_gc
from supportes.settings import PgComponent, Settings

__all__ = [
    "CACHE_SIZE",
    "CALL_TIMEOUT_S",
    "FENCED_BACKOFF_S",
    "GROUP_ID",
    "IDEMPOTENCY_WINDOW",
    "PRUNE_EVERY_S",
    "TAKEOVER_TIMEOUT_S",
    "PartitionFencedError",
    "Writer",
    "WriterHooks",
    "transactional_id",
]

log = get_logger("writer")

GROUP_ID = "supportes-writer"
PRUNE_EVERY_S = 600.0


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
        dsn = settings.dsn_for(PgComponent.WRITER)
        self.index = EventIndex(dsn)  # reads and catch-up, on the polling thread
        self.index_writer = EventIndex(dsn)  # writes after commit, on the indexer
        self.reader = committed_reader(settings, Component.WRITER)
        self.watermarks = committed_reader(
            settings,
            Component.WRITER,
            isolation_level="read_uncommitted",
            client_id="supportes-watermarks",
        )
        self._consumer_config: dict[str, Any] = {
            "max_poll_records": max_poll_records,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "fetch_max_wait_ms": 50,
            **dict(consumer_config or {}),
        }
        self.group_id = group_id
        self.consumer = group_consumer(
            settings, Component.WRITER, group_id, **self._consumer_config
        )
        self.group_mode = partitions is None
        self.transactional_id = instance_transactional_id(
            group_id, instance if instance is not None else settings.writer_instance
        )
        self.partitions: dict[int, PartitionState] = {}
        self.metrics = WriterMetrics(settings.metrics_enabled)
        self._decider = CommandDecider(settings, self.partitions, count=self.metrics.enabled)
        self._to_open: set[int] = set()
        self.backoff = Backoff("writer")
        """Every wait for a dependency (the stop event is :meth:`run`'s)."""
        self.ready = threading.Event()
        """Set once the writer owns partitions and has opened all of them (caught up, seeked)."""
        self._committer = ThreadPoolExecutor(
            max_workers=max(1, settings.partitions), thread_name_prefix="writer-commit"
        )
        catch_up = LogCatchUp(
            self.index,
            self.reader,
            self.watermarks,
            events_topic=self.events_topic,
            results_topic=self.results_topic,
            backoff=self.backoff,
        ).catch_up
        self._indexer = CommitIndexer(
            self.index_writer,
            self.index,
            catch_up=catch_up,
            owned=self.partitions,
            events_topic=self.events_topic,
            results_topic=self.results_topic,
            backoff=self.backoff,
            metrics=self.metrics,
        )
        self._takeover = Takeover(
            settings,
            self.consumer,
            self.index,
            commands_topic=self.commands_topic,
            group_mode=self.group_mode,
            transactional_id=self.transactional_id,
            partitions=self.partitions,
            to_open=self._to_open,
            committer=self._committer,
            catch_up=catch_up,
            await_index=self._indexer.await_index,
            send_event=self._decider.send_event,
            backoff=self.backoff,
            metrics=self.metrics,
        )
        self._recovery = Recovery(self._takeover, self._indexer, self.metrics)
        self._membership = MembershipWatch(
            lambda: group_consumer(settings, Component.WRITER, group_id, **self._consumer_config),
            self._subscribe,
            stalled_after_s=STALLED_SESSIONS * settings.group_session_timeout_ms / 1000,
        )
        if partitions is None:
            self._subscribe(self.consumer)
        else:
            self.consumer.assign([TopicPartition(self.commands_topic, p) for p in partitions])
            self._to_open.update(partitions)

    def _subscribe(self, consumer: KafkaConsumer) -> None:
        """Group mode: subscribe ``consumer`` to the commands topic once its partitions and the
        group's metadata snapshot are known (:func:`subscribe_known`)."""
        subscribe_known(
            consumer,
            self.commands_topic,
            listener=RebalanceListener(self._takeover),
            timeout_s=self.settings.connect_timeout_s,
        )

    @property
    def _index_pending(self) -> IndexWrite | None:
        """The index write in flight, if any."""
        return self._indexer.pending

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_timeout_ms: int = 100) -> None:
        """Process commands until ``stop`` is set; the open batch is finished first.

        A dependency outage (PostgreSQL or Kafka, :func:`dependency_of`) is ridden out: what
        is in hand is dropped (the open transaction is aborted by the next producer's
        ``init_transactions``), the writer backs off and re-opens its partitions (catch-up from
        the log, seek to the committed offsets) for as long as it lasts. Any other failure is
        raised. A stop during any wait ends the loop at once."""
        log.info(
            "writer started",
            topic=self.commands_topic,
            transactional_id=self.transactional_id if self.group_mode else "per partition",
        )
        self.backoff.stop = stop
        next_prune = 0.0
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_prune:
                        prune_processed(self.index)
                        next_prune = time.monotonic() + PRUNE_EVERY_S
                    self.run_once(poll_timeout_ms)
                    self._indexer.settle_finished()
                    if not self._to_open:
                        self.backoff.succeeded()
                    self._watch_membership()
                except Stopping:
                    break
                except Exception as exc:
                    dependency = dependency_of(exc)
                    if dependency is None:
                        raise
                    ride_out(self._indexer, self._takeover, self.backoff, dependency, exc)
        except Stopping:
            pass
        finally:
            self.close()

    def _watch_membership(self) -> None:
        """Group mode: revive an orphaned join, replace a consumer stuck unstable
        (:class:`~supportes.consumers.writer_membership.MembershipWatch`)."""
        if not self.group_mode:
            return
        consumer = self._membership.check(self.consumer)
        if consumer is not self.consumer:
            self.consumer = self._takeover.consumer = self._recovery.consumer = consumer

    def run_once(self, poll_timeout_ms: int = 100) -> int:
        """One poll: one transaction per lane (group mode: one in all), committed, then indexed.

        Returns the number of records committed.
        """
        polled = self.consumer.poll(timeout_ms=poll_timeout_ms)
        metadata = self.consumer.group_metadata()  # the generation these records belong to
        just_opened = self._takeover.open_pending()
        if self.partitions and not self._to_open:
            self.ready.set()
        self.metrics.ownership(self.consumer, self.commands_topic, self.partitions, self._to_open)
        if self.group_mode and polled and (metadata.generation_id < 0 or not metadata.member_id):
            log.warning("no group generation; records left for after the rejoin")
            for tp, records in polled.items():
                if tp.partition not in just_opened:
                    self.consumer.seek(tp, records[0].offset)
            return 0
        began = time.monotonic()
        lanes: dict[int, tuple[Lane, list[Taken]]] = {}
        # One answer book for the whole cycle: a command id reused on another aggregate (so
        # another partition) in the same cycle is seen as reused, not answered twice.
        answered: dict[str, Answer] = {}
        for tp, records in polled.items():
            state = self.partitions.get(tp.partition)
            if state is None or state.fenced or tp.partition in just_opened:
                continue  # re-fetched from the committed offset after opening
            incoming = [parse_record(r.value) for r in records]
            state.batch = PendingBatch(
                state.number, records[0].offset, records[-1].offset, answered=answered
            )
            lanes.setdefault(id(state.lane), (state.lane, []))[1].append((state, records, incoming))
        taken = [item for _, items in lanes.values() for item in items]
        try:
            prefetch(self.index, self._indexer, [(state, incoming) for state, _, incoming in taken])
        except Exception as exc:
            for lane, items in lanes.values():
                self._recovery.failed(lane, items, exc)
            return 0
        prepared: list[tuple[Lane, list[Taken], PendingCall]] = []
        for lane, items in lanes.values():
            offsets_sent: PendingCall | None = None
            try:
                lane.begin()
                offsets_sent = send_offsets(
                    lane, items, metadata, commands_topic=self.commands_topic, hooks=self.hooks
                )
                self._decider.decide(lane, items, metadata.generation_id)
            except Exception as exc:
                # The offsets' own failure (a generation error, say) is the cause to act on:
                # a send failing after it only reports the transaction's abortable state.
                self._recovery.failed(lane, items, failure_of(offsets_sent) or exc)
                continue
            prepared.append((lane, items, offsets_sent))
        if not prepared:
            return 0
        return self._commit(prepared, began)

    def _commit(self, prepared: list[tuple[Lane, list[Taken], PendingCall]], began: float) -> int:
        """Commit the prepared lanes (concurrently when several), recover the failed ones, and
        index the committed batches in the background; return the records committed."""
        if len(prepared) == 1:
            failures = [commit(*prepared[0], hooks=self.hooks)]
        else:
            failures = list(
                self._committer.map(lambda item: commit(*item, hooks=self.hooks), prepared)
            )
        handled = 0
        committed: list[tuple[PartitionState, PendingBatch]] = []
        for (lane, items, _), failure in zip(prepared, failures, strict=True):
            if failure is not None:
                self._recovery.failed(lane, items, failure)
                continue
            self.metrics.transaction("committed")
            for state, _, _ in items:
                assert state.batch is not None
                committed.append((state, state.batch))
                handled += self._committed(state, began)
        if committed:
            self.metrics.cycle(began, [batch for _, batch in committed])
            self._indexer.index_in_background(committed)
        return handled

    def close(self) -> None:
        """Leave the group and release producers and connections. Each step is bounded and
        runs even when an earlier one failed (a stop during an outage must still end)."""
        index_write = (
            self._indexer.discard_pending
            if self.backoff.stop.is_set()
            else self._indexer.await_index
        )
        steps: list[tuple[str, Callable[[], object]]] = [
            ("index write", index_write),
            ("partitions", self._takeover.close),
            ("consumer", self.consumer.close),
            ("log reader", self.reader.close),
            ("watermark reader", self.watermarks.close),
            ("indexer", self._indexer.shutdown),
            ("index", self.index.close),
            ("index writer", self.index_writer.close),
            ("committer", lambda: self._committer.shutdown(wait=True)),
        ]
        for what, step in steps:
            try:
                step()
            except (Exception, Stopping) as exc:
                log.warning("closing failed", step=what, error=first_line(exc))
        log.info("writer stopped")

    # -- partition ownership ---------------------------------------------------------------

    def revoked(self, partitions: set[int]) -> None:
        """Group callback: forget partitions taken away."""
        self._takeover.revoked(partitions)

    def assigned(self, partitions: set[int]) -> None:
        """Group callback: partitions to open before their records are processed."""
        self._takeover.assigned(partitions)

    # -- one cycle -------------------------------------------------------------------------

    def _committed(self, state: PartitionState, began: float) -> int:
        """Close a committed batch (logged); return its record count."""
        self._recovery.fenced_in_a_row = 0
        return committed_batch(state, began, self.hooks)
