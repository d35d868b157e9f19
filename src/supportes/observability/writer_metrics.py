"""The writer's metrics: what its cycles, transactions and partitions report to Prometheus.

Per-command work stays in the batch (:meth:`~supportes.consumers.batch.BatchStats.count`, the
records' timestamps); the counters and histograms are touched once per committed cycle, so the
hot path pays a dict increment per command. ``enabled=False`` (``SUPPORTES_METRICS_ENABLED``)
skips all of it, the benchmark's "off" side.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from kafka import KafkaConsumer, TopicPartition

from supportes.consumers.batch import PendingBatch
from supportes.observability import metrics

WAITING_EVERY_S = 2.0
"""How often the commands waiting per partition are read (the consumer's fetch positions)."""


class WriterMetrics:
    """Records one writer's figures (``enabled``) or nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.seconds_spent = 0.0
        """Time spent recording (per cycle and per poll; the per-command dict increments of
        :meth:`~supportes.consumers.batch.BatchStats.count` are outside): what the benchmark
        reports as the metrics' own cost."""
        self._next_waiting = 0.0
        self._waiting_labels: set[int] = set()

    def cycle(self, began: float, batches: Iterable[PendingBatch]) -> None:
        """A cycle's batches committed: outcomes, its duration and size, submit-to-commit."""
        if not self.enabled:
            return
        clock = time.perf_counter()
        now_ms = time.time() * 1000
        commands = 0
        for batch in batches:
            stats = batch.stats
            commands += stats.commands
            for (kind, outcome, code), count in stats.outcomes.items():
                metrics.COMMANDS.labels(kind, outcome, code).inc(count)
            observe = metrics.SUBMIT_TO_COMMIT_SECONDS.observe
            for submitted in stats.submitted_ms:
                observe(max(0.0, now_ms - submitted) / 1000)
        metrics.WRITER_CYCLE_SECONDS.observe(time.monotonic() - began)
        metrics.WRITER_CYCLE_COMMANDS.observe(commands)
        self.seconds_spent += time.perf_counter() - clock

    def transaction(self, result: str) -> None:
        """One transaction ended: ``committed``, ``aborted`` or ``fenced``."""
        if self.enabled:
            metrics.TRANSACTIONS.labels(result).inc()

    def takeover(self, seconds: float) -> None:
        """A partition was opened in ``seconds``."""
        if self.enabled:
            metrics.TAKEOVER_SECONDS.observe(seconds)

    def indexed(self, seconds: float) -> None:
        """A cycle's index write ended ``seconds`` after its commit."""
        if self.enabled:
            metrics.INDEX_LAG_SECONDS.observe(seconds)

    def ownership(
        self, consumer: KafkaConsumer, topic: str, opened: Mapping[int, object], to_open: set[int]
    ) -> None:
        """Partitions owned (opened) now; every :data:`WAITING_EVERY_S`, the commands waiting
        on each (from the consumer's last fetch: no request is made)."""
        if not self.enabled:
            return
        clock = time.perf_counter()
        owned = [n for n in opened if n not in to_open]
        metrics.PARTITIONS_OWNED.set(len(owned))
        now = time.monotonic()
        if now < self._next_waiting:
            self.seconds_spent += time.perf_counter() - clock
            return
        self._next_waiting = now + WAITING_EVERY_S
        for number in self._waiting_labels - set(owned):
            metrics.COMMANDS_WAITING.remove(str(number))
        self._waiting_labels = set(owned)
        for number in owned:
            tp = TopicPartition(topic, number)
            highwater = consumer.highwater(tp)
            try:
                position = consumer.position(tp, timeout_ms=0) if highwater is not None else None
            except Exception:  # position unknown right now: leave the last figure
                position = None
            if highwater is not None and position is not None:
                metrics.COMMANDS_WAITING.labels(str(number)).set(max(0, highwater - position))
        self.seconds_spent += time.perf_counter() - clock
