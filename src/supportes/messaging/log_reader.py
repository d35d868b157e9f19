"""Reading a partition of the log up to its end, as a read_committed consumer sees it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError


def end_offset(consumer: KafkaConsumer, tp: TopicPartition) -> int:
    """``tp``'s end offset as ``consumer`` sees it (its isolation level); a KafkaTimeoutError
    names the partition and the leader the consumer's metadata gives (kafka-python's names
    neither: "Failed to get offsets by timestamps in 30000 ms")."""
    try:
        return int(consumer.end_offsets([tp])[tp])
    except KafkaTimeoutError as exc:
        cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
        leader = cluster.leader_for_partition(tp) if cluster is not None else None
        raise KafkaTimeoutError(
            f"end offset of {tp.topic}[{tp.partition}] (leader per metadata: {leader}): {exc}"
        ) from exc


def read_to_end(
    consumer: KafkaConsumer, tp: TopicPartition, start: int, *, timeout_s: float = 120.0
) -> Iterator[list[ConsumerRecord]]:
    """Yield batches of committed records of ``tp`` from ``start`` until the end offset as it was
    when called. Offsets are not contiguous (transaction markers, aborted records): "caught up"
    means ``position >= end offset`` (the last stable offset under read_committed).
    """
    consumer.assign([tp])
    end = end_offset(consumer, tp)
    if start >= end:
        return
    consumer.seek(tp, start)
    deadline = time.monotonic() + timeout_s
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {tp.topic}[{tp.partition}] to offset {end} timed out")
        batch = consumer.poll(timeout_ms=500).get(tp, [])
        records = [r for r in batch if r.offset < end]
        if records:
            yield records


def wait_until_no_open_transaction(
    committed: KafkaConsumer,
    uncommitted: KafkaConsumer,
    tp: TopicPartition,
    *,
    timeout_s: float,
    waiting: Callable[[int, int], None] = lambda stable, high: None,
) -> None:
    """Wait until ``tp``'s last stable offset reaches its high watermark: no transaction is open
    on it. ``committed`` is a read_committed consumer, ``uncommitted`` a read_uncommitted one;
    ``waiting(stable, high)`` is called about once a second while a transaction is open."""
    deadline = time.monotonic() + timeout_s
    next_report = time.monotonic()
    while True:
        high = end_offset(uncommitted, tp)
        stable = end_offset(committed, tp)
        if stable >= high:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{tp.topic}[{tp.partition}]: a transaction stayed open for {timeout_s:g}s"
                f" (last stable offset {stable}, high watermark {high})"
            )
        if time.monotonic() >= next_report:
            waiting(stable, high)
            next_report = time.monotonic() + 1.0
        time.sleep(0.05)
