"""What one writer transaction on one partition holds until it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from kafka.producer.future import FutureRecordMetadata

from supportes.eventstore.index import Answer
from supportes.messaging.bulk_send import Record


@dataclass
class BatchStats:
    """Counts logged per committed batch, and what its metrics need."""

    commands: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    follow_ons: int = 0
    outcomes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """Answered commands by (type, outcome, rejection code), for the metrics at commit."""
    submitted_ms: list[int] = field(default_factory=list)
    """The commands' record timestamps (ms), for the submit-to-commit metric at commit."""

    def count(self, kind: str, outcome: str, code: str = "") -> None:
        """One command of type ``kind`` answered with ``outcome`` (``code`` when rejected)."""
        key = (kind, outcome, code)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


@dataclass
class PendingBatch:
    """The records one partition's share of a transaction sends, and what to index once it
    commits.

    Events, results and dead letters are collected while the batch is decided and handed to
    the producer together (:func:`~supportes.messaging.bulk_send.send_many`), in the order they
    were decided; their futures are filled in then.
    """

    partition: int
    first_offset: int
    last_offset: int = -1
    events: list[dict[str, Any]] = field(default_factory=list)
    event_records: list[Record] = field(default_factory=list)
    result_records: list[Record] = field(default_factory=list)
    to_index: list[tuple[int, dict[str, Any], str | None]] = field(default_factory=list)
    """Results to index: their position in ``result_records``, the result and the digest of
    the command it answers."""
    dead_letters: list[Record] = field(default_factory=list)
    event_futures: list[FutureRecordMetadata] = field(default_factory=list)
    result_futures: list[FutureRecordMetadata] = field(default_factory=list)
    answered: dict[str, Answer] = field(default_factory=dict)
    touched: set[UUID] = field(default_factory=set)
    erased_subjects: frozenset[str] = frozenset()
    """Customers of this cycle's commands whose personal data was erased (read by the
    prefetch): their commands with personal data are refused ``subject_erased``."""
    writer: tuple[str, bytes] | None = None
    """The :data:`~supportes.consumers.records.WRITER_HEADER` the batch's first result carries
    (set when the transaction begins, cleared once used)."""
    stats: BatchStats = field(default_factory=BatchStats)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The writer's clock when the batch was opened: the ``now`` its commands' ``issued_at``
    is checked against (:func:`~supportes.aggregates.clock.check_issued_at`), read once."""
