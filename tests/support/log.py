"""Reading whole topics back (read_committed) to check what the write path left on the log."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import TopicPartition

from supportes.consumers.writer import Writer
from supportes.messaging.clients import Component, committed_reader, transactional_producer
from supportes.messaging.guard import guarded
from supportes.messaging.log_reader import read_to_end
from supportes.messaging.routing import key_of, partition_for
from supportes.settings import Settings


def read_topic(settings: Settings, name: str) -> list[tuple[int, int, bytes | None, Any]]:
    """(partition, offset, key, decoded JSON value or raw bytes) of every committed record."""
    reader = committed_reader(settings, Component.ADMIN)
    rows: list[tuple[int, int, bytes | None, Any]] = []
    try:
        for partition in range(settings.partitions):
            tp = TopicPartition(settings.topic(name), partition)
            for batch in read_to_end(reader, tp, 0):
                for record in batch:
                    try:
                        value: Any = json.loads(record.value)
                    except ValueError:
                        value = record.value
                    rows.append((partition, record.offset, record.key, value))
    finally:
        reader.close()
    return rows


@contextmanager
def running_writer(settings: Settings, group_id: str, **kwargs: Any) -> Iterator[Writer]:
    """A Writer running on a thread for the duration of the block."""
    writer = Writer(settings, group_id=group_id, **kwargs)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield writer
    finally:
        stop.set()
        thread.join(timeout=60)


def forge_events(settings: Settings, forged: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Commit ``forged`` envelopes onto the events topic with a rogue transactional producer
    (bypassing the writer), keyed and routed like real events; returns their positions."""
    producer = transactional_producer(  # a forgery that got past the broker
        settings, Component.ADMIN, f"rogue-{uuid.uuid4().hex[:8]}"
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        futures = [
            producer.send(
                settings.topic("events"),
                key=key_of(e["aggregate_id"]),
                value=json.dumps(e).encode(),
                partition=partition_for(e["aggregate_id"], settings.partitions),
            )
            for e in forged
        ]
        guarded(producer.commit_transaction, timeout_s=30, what="commit forged events")
        return [(f.get(10).partition, f.get(10).offset) for f in futures]
    finally:
        producer.close(timeout=10)
