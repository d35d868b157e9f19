"""Recovering the writer from a failed transaction, by the kind of failure.

Failures: fenced producer → manual: give the partition up (pause it until revoked); group: new
producer, re-open every partition. Generation error → the zombie path below. Other abortable
error → abort, seek every partition of the transaction back, decide again. A call that timed
out, an abort that failed or a commit not to be believed (outcome unknown) → new producer,
re-open (catch up from the log, re-seek). PostgreSQL error → abort and retry, re-index from the log.

- Two live writers with one instance fence each other's producer: logged as an error, the
  fenced one starts over with a new producer (a misconfiguration, but never a duplicate).
- A zombie (it lost its membership while stalled) fails ``send_offsets_to_transaction`` with
  a generation error, aborts (its events never become visible), drops the state of every
  partition and re-opens what the group gives it after rejoining.
"""

from __future__ import annotations

import random
import time

import psycopg2
from kafka import TopicPartition
from kafka.errors import KafkaError

from supportes.consumers.dependencies import Backoff
from supportes.consumers.ownership import GENERATION_ERRORS, Lane, is_fenced
from supportes.consumers.writer_index import CommitIndexer
from supportes.consumers.writer_state import (
    CALL_TIMEOUT_S,
    PartitionState,
    Taken,
    first_line,
)
from supportes.consumers.writer_takeover import Takeover
from supportes.consumers.writer_transaction import CommitNotTrustedError
from supportes.logs import get_logger
from supportes.messaging import transactions
from supportes.messaging.guard import CallTimedOutError
from supportes.observability.writer_metrics import WriterMetrics

log = get_logger("writer")

FENCED_BACKOFF_S = 0.25  # first pause after a fencing; doubles per fencing in a row, up to 16x


class PartitionFencedError(Exception):
    """Another writer took this partition; this one must stop writing to it."""


class Recovery:
    """What the writer does when a lane's transaction failed."""

    def __init__(
        self, takeover: Takeover, indexer: CommitIndexer, metrics: WriterMetrics | None = None
    ) -> None:
        self.takeover = takeover
        self.metrics = metrics or WriterMetrics(enabled=False)
        self.indexer = indexer
        self.consumer = takeover.consumer
        self.commands_topic = takeover.commands_topic
        self.group_mode = takeover.group_mode
        self.fenced_in_a_row = 0
        """Group mode: fencings since the last commit (the writer resets it on commit)."""

    def failed(self, lane: Lane, items: list[Taken], exc: BaseException) -> None:
        """Recover from a failed transaction, by the kind of failure."""
        numbers = [state.number for state, _, _ in items]
        zombie = is_fenced(exc) or (isinstance(exc, GENERATION_ERRORS) and self.group_mode)
        self.metrics.transaction("fenced" if zombie else "aborted")
        if is_fenced(exc):
            self._producer_fenced(lane, items, exc)
        elif isinstance(exc, CallTimedOutError | CommitNotTrustedError):
            log.warning(
                "transaction outcome unknown; rebuilding", partitions=numbers, error=str(exc)
            )
            self._restart(lane, items)
        elif isinstance(exc, GENERATION_ERRORS) and self.group_mode:
            self._lost_generation(lane, items, exc)
        elif isinstance(exc, KafkaError | psycopg2.Error):
            if self._abort_and_retry(lane, items, exc) and isinstance(exc, psycopg2.Error):
                for number in numbers:
                    self.indexer.recover_index(number)
        else:
            raise exc

    def _producer_fenced(self, lane: Lane, items: list[Taken], exc: BaseException) -> None:
        if not self.group_mode:  # another owner's init_transactions took the partition
            for state, _, _ in items:
                self._fenced(state, exc)
            return
        self.fenced_in_a_row += 1
        pause = FENCED_BACKOFF_S * min(2 ** (self.fenced_in_a_row - 1), 16)
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

    def _fenced(self, state: PartitionState, exc: BaseException) -> None:
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

    def _lost_generation(self, lane: Lane, items: list[Taken], exc: BaseException) -> None:
        """A zombie: abort (nothing of the cycle becomes visible), forget every partition, and
        re-open what the group assigns after the rejoin (or, if nothing changes, the same)."""
        numbers = sorted(self.takeover.partitions)
        log.warning(
            "group generation lost: aborting and dropping every partition",
            partitions=numbers,
            first_offsets={state.number: records[0].offset for state, records, _ in items},
            error=first_line(exc),
        )
        if not self._abort(lane, items):
            return
        for number in numbers:
            self.takeover.drop(number)
        self.takeover.to_open.update(tp.partition for tp in self.consumer.assignment())

    def _abort_and_retry(self, lane: Lane, items: list[Taken], exc: BaseException) -> bool:
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

    def _abort(self, lane: Lane, items: list[Taken]) -> bool:
        """Abort the lane's transaction and forget its batches; False when the abort failed
        (the lane was restarted or fenced instead)."""
        if lane.in_transaction:
            try:
                transactions.abort(lane.producer, timeout_s=CALL_TIMEOUT_S)
            except (KafkaError, CallTimedOutError) as exc:
                if is_fenced(exc):
                    self._producer_fenced(lane, items, exc)
                else:
                    log.warning("abort failed; rebuilding", error=first_line(exc))
                    self._restart(lane, items)
                return False
            lane.in_transaction = False
        for state, _, _ in items:
            state.forget_batch()
        return True

    def _restart(self, lane: Lane, items: list[Taken]) -> None:
        """Outcome unknown or producer dead: re-open the lane's partitions at the next poll, with
        a new producer whose ``init_transactions`` aborts whatever the old one left open."""
        lane.in_transaction = False
        if self.group_mode:
            numbers = sorted(self.takeover.partitions)
            for number in numbers:
                self.takeover.drop(number)
            self.takeover.release_group_lane(lane)
            lane.close(timeout_s=0)
        else:
            numbers = [state.number for state, _, _ in items]
            for state, _, _ in items:
                state.batch = None  # no abort: the new producer's init_transactions does it
        self.takeover.to_open.update(numbers)


def ride_out(
    indexer: CommitIndexer,
    takeover: Takeover,
    backoff: Backoff,
    dependency: str,
    exc: BaseException,
) -> None:
    """After a dependency failed: drop what is in hand (the index write in flight, every
    partition, the producer: the next one's ``init_transactions`` aborts what was open), then
    back off (Stopping if asked to stop); the next cycle re-opens every assigned partition."""
    log.warning(
        "dependency unavailable; dropping the partitions in hand to re-open them",
        dependency=dependency,
        partitions=sorted(takeover.partitions),
        error=first_line(exc),
    )
    indexer.discard_pending()
    takeover.reset()
    backoff.wait(dependency, exc)
