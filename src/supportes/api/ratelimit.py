"""Per-principal token buckets: a flood from one caller gets 429 while others are served.

In memory, per API process: with several replicas each allows the rate (put a shared limiter in
front, e.g. the ingress, for a global one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` tokens per second up to ``burst`` per key; ``take`` spends one."""

    MAX_KEYS = 100_000

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend a token of ``key``: 0.0 when allowed, else the seconds until one is free."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                    self._buckets.clear()  # bounded memory; a reset only gives back tokens
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
