"""Progress of long benchmark phases on stderr (structlog): done, rate and ETA."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from supportes.bench.stats import eta_s, rate
from supportes.logs import get_logger


class Progress:
    """Counts work done and logs ``done/total``, rate and ETA at most every ``interval_s``."""

    def __init__(
        self,
        benchmark: str,
        phase: str,
        total: int,
        *,
        interval_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.benchmark = benchmark
        self.phase = phase
        self.total = total
        self.done = 0
        self._clock = clock
        self._interval_s = interval_s
        self._started = clock()
        self._last_log = self._started
        self._lock = threading.Lock()
        self._log = get_logger("bench").bind(benchmark=benchmark, phase=phase)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the phase started."""
        return self._clock() - self._started

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more units done; log when the interval has passed (thread-safe)."""
        with self._lock:
            self.done += count
            now = self._clock()
            due = now - self._last_log >= self._interval_s
            if due:
                self._last_log = now
        if due:
            self._emit("progress")

    def finish(self) -> None:
        """Log the final count and rate."""
        self._emit("phase done")

    def _emit(self, message: str) -> None:
        elapsed = self.elapsed_s
        eta = eta_s(self.done, self.total, elapsed)
        self._log.info(
            message,
            done=self.done,
            total=self.total,
            per_s=round(rate(self.done, elapsed)),
            elapsed_s=round(elapsed, 1),
            eta_s=None if eta is None else round(eta, 1),
        )
