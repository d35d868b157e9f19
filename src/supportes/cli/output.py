"""Printing results: aligned tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def print_json(value: Any, out: TextIO = sys.stdout) -> None:
    """One JSON document (dates and other objects as strings)."""
    out.write(json.dumps(value, default=str, indent=2, sort_keys=False) + "\n")


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
    return str(value)
