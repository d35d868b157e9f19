"""The projector's metrics: events applied, batch durations, lag, parked events, dead letters.

Touched once per batch (and, idle, once per poll); the parked events are counted by a query
of ``parked_events`` at most every :data:`PARKED_EVERY_S` on a connection of their own (the
projector's own connections belong to its lanes' threads). ``enabled=False`` records nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

import psycopg2.extensions
from kafka import KafkaConsumer, TopicPartition
from psycopg2 import sql

from supportes.consumers.projector_batch import BatchReport
from supportes.db.connect import connect
from supportes.observability import metrics

PARKED_EVERY_S = 30.0
"""How often the parked events are counted."""


class ProjectorMetrics:
    """Records one projector's figures (``enabled``) or nothing."""

    def __init__(self, enabled: bool, *, dsn: str, schema: str, names: list[str]) -> None:
        self.enabled = enabled
        self._dsn = dsn
        self._schema = schema
        self._names = names
        self._conn: psycopg2.extensions.connection | None = None
        self._next_parked = 0.0
        self._lag_labels: set[int] = set()

    def batch(self, report: BatchReport, seconds: float) -> None:
        """A batch committed: events applied per projection, its duration and size, dead
        letters."""
        if not self.enabled:
            return
        for name, count in report.applied.items():
            if count:
                metrics.EVENTS_APPLIED.labels(name).inc(count)
        metrics.BATCH_APPLY_SECONDS.observe(seconds)
        metrics.BATCH_EVENTS.observe(report.events)
        if report.dead_letters:
            metrics.PROJECTOR_DEAD_LETTERS.inc(report.dead_letters)

    def lag(self, consumer: KafkaConsumer, topic: str, stored: Mapping[int, int]) -> None:
        """Per owned partition: the end offset (from the consumer's last fetch: no request)
        minus the offset stored with the rows; every projection of a live projector stores
        the same next offset with each batch, so each projection shows its partition's lag.
        Also counts the parked events when due."""
        if not self.enabled:
            return
        owned = set(stored)
        for number in self._lag_labels - owned:
            for name in self._names:
                with contextlib.suppress(KeyError):
                    metrics.PROJECTOR_LAG.remove(name, str(number))
        self._lag_labels = owned
        for number, offset in stored.items():
            highwater = consumer.highwater(TopicPartition(topic, number))
            if highwater is None:
                continue
            lag = max(0, highwater - offset)
            for name in self._names:
                metrics.PROJECTOR_LAG.labels(name, str(number)).set(lag)
        self._count_parked()

    def _count_parked(self) -> None:
        now = time.monotonic()
        if now < self._next_parked:
            return
        self._next_parked = now + PARKED_EVERY_S
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self._dsn)
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                query = sql.SQL("SELECT count(*) FROM {}.parked_events WHERE projection = ANY(%s)")
                cur.execute(query.format(sql.Identifier(self._schema)), (self._names,))
                row = cur.fetchone()
            metrics.PARKED_EVENTS.set(int(row[0]) if row else 0)
        except psycopg2.Error:  # PostgreSQL away: the projector rides it out; keep the figure
            self.close()

    def close(self) -> None:
        """Close the parked-events connection."""
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None
