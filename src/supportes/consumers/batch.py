"""What one writer transaction on one partition holds until it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from kafka.producer.future import FutureRecordMetadata


@dataclass
class BatchStats:
    """Counts logged per committed batch."""

    commands: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    follow_ons: int = 0


@dataclass
class PendingBatch:
    """Events and results sent in the open transaction, indexed once it commits."""

    partition: int
    first_offset: int
    last_offset: int = -1
    events: list[dict[str, Any]] = field(default_factory=list)
    event_futures: list[FutureRecordMetadata] = field(default_factory=list)
    results: list[tuple[dict[str, Any], FutureRecordMetadata]] = field(default_factory=list)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    touched: set[UUID] = field(default_factory=set)
    stats: BatchStats = field(default_factory=BatchStats)
