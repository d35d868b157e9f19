"""Printing results: aligned tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from supportes.aggregates.storable import scrub


def print_json(value: Any, out: TextIO = sys.stdout) -> None:
    """One JSON document (times in ISO 8601, decimals as numbers, other objects as text)."""
    out.write(json.dumps(value, default=_json_value, indent=2, sort_keys=False) + "\n")


def _json_value(value: Any) -> Any:
    """Times as ISO 8601, decimals as numbers, durations as seconds, anything else as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO = sys.stdout
) -> None:
    """An aligned plain-text table with a header line."""
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    return scrub(str(value))  # text from an old log may hold what no terminal can print


def print_fields(fields: Mapping[str, Any], out: TextIO = sys.stdout) -> None:
    """One ``name  value`` line per field, names aligned (a record shown vertically)."""
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        out.write(f"{name.ljust(width)}  {_cell(value)}".rstrip() + "\n")


def fail_line(message: str, out: TextIO = sys.stderr) -> None:
    """The one-line error a verb prints before a non-zero exit of its own (3, 4, 5)."""
    out.write(f"supportes: error: {message}\n")
