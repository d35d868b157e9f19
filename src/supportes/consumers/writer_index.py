"""The writer's after-commit index write.

After the commit the cycle's batches are written to the event index with their offsets, in one
PostgreSQL transaction on a thread of its own, while the next cycle runs. The log is the truth:
a write that fails is made good by catching the index up from the log (retried, with the
writer's :class:`~supportes.consumers.dependencies.Backoff`, until PostgreSQL is back or the
writer is asked to stop).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Container
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
from kafka.producer.future import FutureRecordMetadata

from supportes.consumers.batch import PendingBatch
from supportes.consumers.dependencies import POSTGRESQL, Backoff, dependency_of
from supportes.consumers.writer_state import PartitionState, first_line
from supportes.eventstore.index import EventIndex, IndexedEvent, ProcessedCommand
from supportes.logs import get_logger
from supportes.observability.writer_metrics import WriterMetrics

log = get_logger("writer")


@dataclass
class IndexWrite:
    """The index write in flight: committed batches on their way to PostgreSQL."""

    future: Future[int]
    partitions: list[int]
    batches: list[PendingBatch]


class CommitIndexer:
    """Indexes committed batches in the background, one write in flight at a time.

    ``index_writer`` is the indexer thread's connection; ``index`` (the polling thread's) and
    ``catch_up`` re-index a partition of ``owned`` from the log when a write failed.
    """

    def __init__(
        self,
        index_writer: EventIndex,
        index: EventIndex,
        *,
        catch_up: Callable[[int], int],
        owned: Container[int],
        events_topic: str,
        results_topic: str,
        backoff: Backoff,
        metrics: WriterMetrics | None = None,
    ) -> None:
        self.index_writer = index_writer
        self.index = index
        self._catch_up = catch_up
        self._owned = owned
        self.events_topic = events_topic
        self.results_topic = results_topic
        self.backoff = backoff
        self.metrics = metrics or WriterMetrics(enabled=False)
        self._indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer-index")
        self.pending: IndexWrite | None = None

    def unindexed(self) -> list[PendingBatch]:
        """The committed batches whose index write is still in flight."""
        return self.pending.batches if self.pending is not None else []

    def index_in_background(self, committed: list[tuple[PartitionState, PendingBatch]]) -> None:
        """Write the committed batches to the index in one PostgreSQL transaction, on the
        indexer thread (its own connection), overlapping the whole next cycle.

        Until it is awaited, the writer's prefetch answers repeated command ids from these
        batches and waits for it before loading an aggregate they touched (one no longer
        cached)."""
        self.await_index()  # one write in flight at a time, in commit order
        events: list[IndexedEvent] = []
        processed: list[ProcessedCommand] = []
        positions: dict[tuple[str, int], int] = {}
        for state, batch in committed:
            for envelope, (_, raw, _), future in zip(
                batch.events, batch.event_records, batch.event_futures, strict=True
            ):
                offset = _offset(future)
                events.append(IndexedEvent(envelope, self.events_topic, state.number, offset, raw))
                positions[(self.events_topic, state.number)] = offset + 1
            for at, result, digest in batch.to_index:
                offset = _offset(batch.result_futures[at])
                processed.append(
                    ProcessedCommand(
                        result["command_id"],
                        self.results_topic,
                        state.number,
                        result,
                        offset,
                        digest,
                        batch.result_records[at][1],
                    )
                )
                positions[(self.results_topic, state.number)] = offset + 1
        future = self._indexer.submit(self.index_writer.record, events, processed, positions)
        if self.metrics.enabled:
            committed_at = time.monotonic()
            metrics = self.metrics
            future.add_done_callback(lambda _: metrics.indexed(time.monotonic() - committed_at))
        self.pending = IndexWrite(
            future, [state.number for state, _ in committed], [batch for _, batch in committed]
        )

    def await_index(self) -> None:
        """Wait for the last index write; on failure re-index its partitions from the log."""
        if self.pending is None:
            return
        future, numbers = self.pending.future, self.pending.partitions
        self.pending = None
        try:
            future.result()
        except Exception as exc:  # the log is the truth: re-index from it when PG is back
            log.error(
                "indexing failed; catching up from the log",
                partitions=numbers,
                error=first_line(exc),
            )
            with contextlib.suppress(Exception):
                self.index_writer.reconnect()
            for number in numbers:
                if number in self._owned:
                    self.recover_index(number)

    def settle_finished(self) -> None:
        """Await the write in flight if it has ended: a failed one is caught up from the log
        now, not at the next commit. An idle writer whose last write failed (its connection
        broken by a PostgreSQL restart it had not noticed) left that batch out of the index
        until the next command came: ``GET /v1/commands/{id}`` answered 404 for minutes."""
        if self.pending is not None and self.pending.future.done():
            self.await_index()

    def recover_index(self, number: int) -> None:
        """Catch partition ``number``'s index up from the log, retrying until PostgreSQL (or
        the broker) is back; :class:`~supportes.consumers.dependencies.Stopping` when the
        writer is asked to stop meanwhile."""
        while True:
            try:
                self.index.reconnect()
                self._catch_up(number)
                return
            except Exception as exc:
                dependency = dependency_of(exc)
                if dependency is None and not isinstance(exc, psycopg2.Error):
                    raise
                self.backoff.wait(dependency or POSTGRESQL, exc, partition=number)

    def discard_pending(self) -> None:
        """Forget the write in flight once it has ended, whatever its outcome (a partition's
        next owner, this writer included, catches the index up from the log anyway)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            try:
                pending.future.result()
            except Exception as exc:
                log.warning(
                    "index write lost; the next catch-up redoes it",
                    partitions=pending.partitions,
                    error=first_line(exc),
                )

    def shutdown(self) -> None:
        """Stop the indexer thread (after the write in flight)."""
        self._indexer.shutdown(wait=True)


def _offset(future: FutureRecordMetadata) -> int:
    """The log offset of a record sent in a committed transaction (its future is done then;
    ``get`` costs a timer per call, which adds up over thousands of records)."""
    if future.is_done and future.succeeded():
        return int(future.value.offset)
    return int(future.get(timeout=10).offset)
