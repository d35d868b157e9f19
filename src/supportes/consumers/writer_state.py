"""What the command writer holds per owned partition, and what its parts share: the call
timeout, the bound of the aggregate cache, how an error is put in a log line."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from uuid import UUID

from kafka.consumer.fetcher import ConsumerRecord

from supportes.aggregates import AnyAggregate
from supportes.consumers.batch import PendingBatch
from supportes.consumers.ownership import Lane
from supportes.consumers.records import Incoming
from supportes.eventstore.recorder import KafkaEventRecorder

CACHE_SIZE = 20_000
CALL_TIMEOUT_S = 30.0


@dataclass
class PartitionState:
    """What the writer holds for one owned partition."""

    number: int
    lane: Lane
    recorder: KafkaEventRecorder
    cache: OrderedDict[UUID, AnyAggregate] = field(default_factory=OrderedDict)
    batch: PendingBatch | None = None
    fenced: bool = False

    def cache_put(self, aggregate_id: UUID, aggregate: AnyAggregate) -> None:
        """Cache ``aggregate`` as the most recently used, evicting beyond :data:`CACHE_SIZE`."""
        self.cache[aggregate_id] = aggregate
        self.cache.move_to_end(aggregate_id)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)

    def forget_batch(self) -> None:
        """Forget an aborted batch and the cached aggregates it touched."""
        if self.batch is not None:
            for aggregate_id in self.batch.touched:
                self.cache.pop(aggregate_id, None)
        self.batch = None
        self.recorder.end_transaction(committed=False)


# One partition's share of a cycle: its state, its polled records, and the records parsed.
Taken = tuple[PartitionState, list[ConsumerRecord], list[Incoming]]


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (its type's name if it has none), for a log line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
