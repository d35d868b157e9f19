"""Benchmark results and their rendering: an aligned text table and JSON (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("benchmark", "metric", "value", "unit", "notes")


@dataclass(frozen=True)
class Metric:
    """One measured figure of a benchmark."""

    name: str
    value: float
    unit: str
    notes: str = ""


@dataclass
class Result:
    """What one benchmark measured, with the parameters it ran with."""

    benchmark: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, notes: str = "") -> None:
        """Append a metric."""
        self.metrics.append(Metric(name, float(value), unit, notes))

    def value(self, name: str) -> float:
        """The value of metric ``name`` (KeyError when absent)."""
        for metric in self.metrics:
            if metric.name == name:
                return metric.value
        raise KeyError(name)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """Table rows ``(benchmark, metric, value, unit, notes)`` with formatted values."""
        return [
            (self.benchmark, m.name, format_value(m.value), m.unit, m.notes) for m in self.metrics
        ]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (values unformatted)."""
        return {
            "benchmark": self.benchmark,
            "params": self.params,
            "metrics": [
                {"metric": m.name, "value": m.value, "unit": m.unit, "notes": m.notes}
                for m in self.metrics
            ],
        }


def format_value(value: float) -> str:
    """A number for humans: thousands separators, fewer decimals as it grows."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] = COLUMNS) -> str:
    """An aligned text table; column ``value`` is right-aligned, repeated benchmark names blank.

    Every row must have as many cells as ``header``.
    """
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header has {len(header)}: {row!r}")
    shown: list[tuple[str, ...]] = []
    previous = None
    for row in rows:
        first = "" if row[0] == previous else row[0]
        previous = row[0]
        shown.append((first, *row[1:]))
    widths = [len(h) for h in header]
    for row in shown:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    right = {i for i, name in enumerate(header) if name == "value"}

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return " | ".join(parts).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in shown)])


def format_pairs(title: str, pairs: list[tuple[str, str]]) -> str:
    """A titled block of ``key  value`` lines with the keys aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join([title, *(f"  {k.ljust(width)}  {v}" for k, v in pairs)])
