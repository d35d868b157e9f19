"""``send_many`` against the real broker: order, offsets, headers and transactions as with
``send``, while most records bypass ``send``."""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer, TopicPartition

from supportes.messaging.bulk_send import Record, send_many
from supportes.messaging.clients import Component, committed_reader, connection_config
from supportes.messaging.log_reader import read_to_end
from tests.conftest import Isolated


def _read(isolated: Isolated, tp: TopicPartition) -> list[Any]:
    """Every committed record of one partition, in offset order."""
    reader = committed_reader(isolated.settings, Component.ADMIN)
    try:
        return [record for batch in read_to_end(reader, tp, 0) for record in batch]
    finally:
        reader.close()


class _CountingProducer(KafkaProducer):  # type: ignore[misc]
    sends = 0

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self.sends += 1
        return super().send(*args, **kwargs)


def _producer(isolated: Isolated) -> _CountingProducer:
    producer = _CountingProducer(
        **connection_config(isolated.settings, Component.ADMIN),
        transactional_id=f"{isolated.group_id}-bulk",
        acks="all",
        enable_idempotence=True,
        linger_ms=1000,
        batch_size=4096,  # a few dozen records per batch: the run spans many batches
    )
    producer.init_transactions()
    return producer


def _records(count: int, tag: str) -> list[Record]:
    return [
        (f"key-{i % 7}".encode(), f"{tag}-{i:05d}".encode() * 5, [("n", str(i).encode())])
        for i in range(count)
    ]


def test_send_many_keeps_order_offsets_and_headers_across_batches(isolated: Isolated) -> None:
    topic = isolated.topic("events")
    records = _records(2000, "bulk")
    producer = _producer(isolated)
    try:
        producer.begin_transaction()
        futures = send_many(producer, topic, 2, records)
        producer.send(topic, value=b"elsewhere", partition=3)
        producer.commit_transaction()
        offsets = [f.get(timeout=10).offset for f in futures]
        sends = producer.sends
    finally:
        producer.close()

    found = _read(isolated, TopicPartition(topic, 2))
    assert [(r.key, r.value, r.headers) for r in found] == records
    assert [r.offset for r in found] == offsets
    assert all(f.get().partition == 2 for f in futures)
    # ~60 batches of 4 KiB: one send opens each, the rest are appended in bulk.
    assert sends < len(records) // 10, f"{sends} of {len(records)} records went through send"


def test_records_of_an_aborted_transaction_stay_invisible(isolated: Isolated) -> None:
    topic = isolated.topic("results")
    producer = _producer(isolated)
    try:
        producer.begin_transaction()
        send_many(producer, topic, 0, _records(300, "aborted"))
        producer.flush()
        producer.abort_transaction()
        producer.begin_transaction()
        kept = _records(300, "kept")
        send_many(producer, topic, 0, kept)
        producer.commit_transaction()
    finally:
        producer.close()

    found = _read(isolated, TopicPartition(topic, 0))
    assert [r.value for r in found] == [value for _, value, _ in kept]
