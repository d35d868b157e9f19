"""Small statistics for benchmark figures (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) by linear interpolation between closest ranks.

    The same definition as numpy's default (``method="linear"``). Raises ValueError for an empty
    sequence or a percentile outside 0-100.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0-100, got {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentile_by_window(
    samples: Sequence[tuple[float, float]], start: float, window_s: float, pct: float
) -> list[float]:
    """The ``pct``-th percentile of the values of each ``window_s`` from ``start``, in time
    order; ``samples`` are (time, value) pairs. Windows without samples are left out."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s}")
    windows: dict[int, list[float]] = {}
    for at, value in samples:
        windows.setdefault(math.floor((at - start) / window_s), []).append(value)
    return [percentile(windows[index], pct) for index in sorted(windows)]


def rate(count: float, seconds: float) -> float:
    """Count per second; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def eta_s(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the average rate so far; None before anything is done."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return max(0, total - done) * elapsed_s / done


def scaled(count: int, scale: float, minimum: int = 1) -> int:
    """``count x scale`` rounded, at least ``minimum``."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max(minimum, round(count * scale))
