"""Who may write a partition: transactional ids, the producers behind them, and the errors that
end a writer's ownership. See the writer's module docstring for how they fit together."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    RebalanceInProgressError,
    TransactionCoordinatorFencedError,
    UnknownMemberIdError,
)

from supportes.messaging import transactions
from supportes.messaging.clients import Component, transactional_producer
from supportes.messaging.guard import guarded
from supportes.settings import Settings

# The producer is dead: another producer with its transactional id (or the coordinator, after
# transaction_timeout_ms) bumped the epoch.
FENCED_ERRORS = (ProducerFencedError, InvalidProducerEpochError, TransactionCoordinatorFencedError)
# The consumer-group generation in the offsets is stale: this writer is a zombie (KIP-447).
GENERATION_ERRORS = (
    CommitFailedError,
    IllegalGenerationError,
    UnknownMemberIdError,
    FencedInstanceIdError,
    RebalanceInProgressError,
)
# An open transaction blocks the last stable offset of every partition it wrote until it ends;
# a writer that dies for good (and is not restarted with its instance id) holds them this long.
TRANSACTION_TIMEOUT_MS = 15_000
# What a writer's transactions write to. The first send to a topic whose metadata the producer
# lacks waits for a metadata round trip (~100 ms seen: the first follow-on command after a
# start stalled its whole cycle); a lane fetches them all before its first transaction.
WRITTEN_TOPICS = ("events", "results", "commands", "dead-letters")


def is_fenced(exc: BaseException) -> bool:
    """The producer is dead. After the fact kafka-python raises a plain KafkaError that carries
    the fencing error as an argument (send) or only names it (transactional calls)."""
    if isinstance(exc, FENCED_ERRORS) or any(isinstance(a, FENCED_ERRORS) for a in exc.args):
        return True
    return isinstance(exc, KafkaError) and any(e.__name__ in str(exc) for e in FENCED_ERRORS)


def partition_transactional_id(partition: int) -> str:
    """Manual assignment: the fixed transactional id of the writer of ``partition``."""
    return f"supportes-writer-p{partition}"


def instance_transactional_id(group_id: str, instance: str) -> str:
    """Group mode: the transactional id of writer ``instance``, stable across its restarts."""
    return f"{group_id}-{instance}"


@dataclass
class Lane:
    """One transactional producer: each poll cycle is one transaction over all its partitions."""

    transactional_id: str
    producer: KafkaProducer
    in_transaction: bool = False
    began_with: tuple[int, int] | None = None
    """The producer id and epoch the open transaction was begun with."""

    def begin(self) -> None:
        """Begin the cycle's transaction once, at the first partition that needs it."""
        if not self.in_transaction:
            self.producer.begin_transaction()
            self.in_transaction = True
            self.began_with = transactions.producer_epoch(self.producer)

    def close(self, timeout_s: float = 5) -> None:
        """Release the producer; an open transaction is aborted by whoever inits the id next."""
        with contextlib.suppress(KafkaError):
            self.producer.close(timeout=timeout_s)


def open_lane(settings: Settings, transactional_id: str, *, timeout_s: float) -> Lane:
    """A producer whose ``init_transactions`` aborted (or completed) the previous transaction of
    ``transactional_id`` and fenced any other producer using it."""
    producer = transactional_producer(
        settings, Component.WRITER, transactional_id, transaction_timeout_ms=TRANSACTION_TIMEOUT_MS
    )
    try:
        guarded(producer.init_transactions, timeout_s=timeout_s, what="init_transactions")
        for topic in WRITTEN_TOPICS:  # else the first send to each waits for its metadata
            producer.partitions_for(settings.topic(topic))
    except BaseException:
        with contextlib.suppress(KafkaError):
            producer.close(timeout=0)
        raise
    return Lane(transactional_id, producer)


def stable_committed(
    consumer: KafkaConsumer,
    tp: TopicPartition,
    *,
    timeout_s: float,
    waiting: Callable[[str], None] = lambda error: None,
) -> int | None:
    """The group's committed offset of ``tp`` once it is stable.

    A read_committed consumer fetches with ``require_stable``: while a previous owner's
    transactional offset commit on ``tp`` is pending, the broker answers UNSTABLE_OFFSET_COMMIT
    (kafka-python retries it until ``timeout_ms``). Retriable errors are retried here until
    ``timeout_s``, calling ``waiting`` with the error each time.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            offset: int | None = consumer.committed(tp, timeout_ms=2_000)
            return offset
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            waiting(type(exc).__name__)
            time.sleep(0.1)
