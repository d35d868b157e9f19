"""PostgreSQL's COPY text format: escaping values and building rows (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from supportes import fastjson


def to_json(value: Any) -> str:
    """Compact JSON text of a value (UTF-8, not ASCII-escaped): :func:`supportes.fastjson.dumps`."""
    return fastjson.dumps_text(value)


def escape(text: str) -> str:
    """Text escaped for a COPY text field (backslash, tab, newline, carriage return)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


def _array(values: Iterable[Any]) -> str:
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
            continue
        text = value if type(value) is str else str(value)
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        items.append(f'"{text}"')
    return escape("{" + ",".join(items) + "}")


def copy_value(value: Any) -> str:
    """One non-null value in COPY text format."""
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return str(value)
    if kind is datetime or kind is date:
        return str(value.isoformat())
    if kind is list or kind is tuple:
        return _array(value)
    if kind is dict or isinstance(value, Mapping):
        return escape(to_json(value if kind is dict else dict(value)))
    return escape(str(value))


def copy_text(rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` in COPY text format (tab-separated, ``\\N`` for null, escaped)."""
    return "".join([
        "\t".join([
            "\\N" if v is None else escape(v) if type(v) is str else copy_value(v) for v in row
        ]) + "\n"
        for row in rows
    ])  # fmt: skip
