"""Many records to one partition of a producer at once: kafka-python's ``send`` without its
per-record overhead.

``KafkaProducer.send`` re-validates, re-checks metadata, re-adds the partition to the open
transaction and takes two locks for every record: ~25-30 us of Python per record on this
machine, ~40 % of the writer's CPU at two or three records per command. :func:`send_many`
sends the first record of a partition's run through ``send`` itself (all checks, metadata, the
partition added to the transaction, a batch opened) and appends the rest under one
accumulator lock straight into that open batch (``ProducerBatch.try_append``, the call
``send`` ends in), ~10 us per record. When the batch fills up, or when kafka-python's
internals are not the ones this module was written against, records go through ``send``.

Each record still gets kafka-python's own ``FutureRecordMetadata`` (offsets, failures and
batch splits behave as with ``send``), and the order of a partition's records is kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.producer.future import FutureRecordMetadata

Headers = list[tuple[str, bytes]]
Record = tuple[bytes | None, bytes | None, Headers | None]
"""Key, value and headers of one record (a key or a value, or both)."""


def send_many(
    producer: KafkaProducer, topic: str, partition: int, records: Sequence[Record]
) -> list[FutureRecordMetadata]:
    """Send ``records`` in order to ``topic``/``partition``; their futures, in the same order.

    Raises what ``send`` raises (the producer is closed, the transaction failed, ...).
    """
    futures: list[FutureRecordMetadata] = []
    tp = TopicPartition(topic, partition)
    at = 0
    while at < len(records):  # one ``send`` per batch, the rest of the batch appended in bulk
        key, value, headers = records[at]
        futures.append(
            producer.send(topic, value=value, key=key, headers=headers, partition=partition)
        )
        at += 1 + _append_to_open_batch(producer, tp, records, at + 1, futures)
    return futures


def _append_to_open_batch(
    producer: KafkaProducer,
    tp: TopicPartition,
    records: Sequence[Record],
    start: int,
    futures: list[FutureRecordMetadata],
) -> int:
    """Append ``records[start:]`` to the partition's open batch until it is full; how many
    were."""
    accumulator: Any = getattr(producer, "_accumulator", None)
    if start >= len(records) or not _has_internals(accumulator):
        return 0
    appended = 0
    now = time.monotonic()
    accumulator._appends_in_progress.increment()
    try:
        with accumulator._tp_lock(tp):
            batches = accumulator._batches[tp]
            if not batches:  # the sender drained the batch ``send`` appended to
                return 0
            batch = batches[-1]
            for key, value, headers in records[start:]:
                future = batch.try_append(None, key, value, headers or [], now=now)
                if future is None:  # full or closed: ``send`` opens the next batch
                    break
                futures.append(future)
                appended += 1
    finally:
        accumulator._appends_in_progress.decrement()
    return appended


def _has_internals(accumulator: Any) -> bool:
    return all(
        hasattr(accumulator, name) for name in ("_appends_in_progress", "_tp_lock", "_batches")
    )
