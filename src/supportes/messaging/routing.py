"""Routing: ``partition = murmur2(key) % P``, Kafka's own partitioner, for commands and events."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

from kafka.partitioner.default import murmur2


def key_of(aggregate_id: UUID | str) -> bytes:
    """The record key of an aggregate: its id as text, UTF-8."""
    return str(aggregate_id).encode()


def partition_for(aggregate_id: UUID | str, partitions: int) -> int:
    """The partition of an aggregate's commands, events and results (Java-compatible murmur2)."""
    return _partition_of(str(aggregate_id), partitions)


@lru_cache(maxsize=1 << 16)
def _partition_of(aggregate_id: str, partitions: int) -> int:
    """Cached: murmur2 is pure Python (~20 us), and a case's commands come in runs."""
    return int(murmur2(aggregate_id.encode()) & 0x7FFFFFFF) % partitions
