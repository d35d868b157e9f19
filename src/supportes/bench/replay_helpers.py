"""Pure helpers of the projection replay benchmark: a child's log lines and memory figures."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

KIB_PER_MIB = 1024


def parse_log_line(line: str) -> dict[str, Any] | None:
    """The JSON object of a structlog JSON line; None for anything else (plain text, arrays)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def log_records(stream: Iterable[bytes], tail: deque[str]) -> Iterator[dict[str, Any]]:
    """The JSON log records of a child's output; other lines, and every warning or worse, are
    kept in ``tail`` (what a failure report quotes)."""
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        record = parse_log_line(line)
        if record is None:
            if line:
                tail.append(line)
            continue
        if record.get("level") in ("warning", "error", "critical"):
            tail.append(line)
        yield record


def parse_proc_status(text: str) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``, ...) in KiB."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def rss_when(samples: Sequence[tuple[int, int]], done: int) -> int | None:
    """The RSS of the first ``(events done, rss)`` sample taken once ``done`` events were done.

    None when no sample got that far.
    """
    for count, rss in samples:
        if count >= done:
            return rss
    return None


def steady_rss(samples: Sequence[tuple[int, int]], after: int) -> int | None:
    """The median RSS of the samples taken once more than ``after`` events were done.

    The start (interpreter, first fetches) is left out; None when no sample qualifies.
    """
    values = sorted(rss for count, rss in samples if count > after)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) // 2


def growth_pct(before: float, after: float) -> float:
    """How much ``after`` exceeds ``before``, in percent of ``before`` (0 when before is 0)."""
    return 100.0 * (after - before) / before if before > 0 else 0.0


def tenths(values: Sequence[float]) -> tuple[float, float]:
    """Means of the first and of the last tenth of ``values`` (at least one value each).

    Raises ValueError when ``values`` is empty.
    """
    if not values:
        raise ValueError("tenths of an empty sequence")
    size = max(1, len(values) // 10)
    return sum(values[:size]) / size, sum(values[-size:]) / size


def short_count(count: int) -> str:
    """``1000000`` -> ``1M``, ``100000`` -> ``100k``, ``2500`` -> ``2.5k``, ``999`` -> ``999``."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size:
            value = count / size
            text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
            return text + suffix
    return str(count)
