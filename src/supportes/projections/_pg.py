"""Set-based PostgreSQL I/O shared by the projections (internal).

Table names are never schema-qualified: the projector's ``search_path`` picks the live ``proj``
schema or a rebuild's shadow. Rows are written with COPY (text format), either straight into an
append-only table or into a session temp staging table followed by ONE ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import Any

import psycopg2.extensions

from supportes.db.copy import copy_text

Row = dict[str, Any]
"""A row as a mutable mapping of column name to value."""

_COPY_BUFFER = 1 << 20


def copy_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """COPY ``rows`` (tuples in ``columns`` order) into ``table``."""
    copy_buffer(cur, table, columns, copy_text(rows))


def copy_buffer(
    cur: psycopg2.extensions.cursor, table: str, columns: Sequence[str], buffer: str
) -> None:
    """COPY a ready COPY-text ``buffer`` (may be empty) into ``table``."""
    if not buffer:
        return
    cur.copy_expert(
        f"COPY {table} ({names(columns)}) FROM STDIN", io.StringIO(buffer), size=_COPY_BUFFER
    )


def stage_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Collection[Sequence[Any]],
) -> str:
    """COPY ``rows`` into a session temp table with ``table``'s ``columns``; return its name.

    The statement consuming it must empty it (``WITH s AS (DELETE FROM stage RETURNING ...)``),
    as :func:`upsert_rows` and :func:`update_rows` do; it is also emptied at commit.
    """
    stage = f"_stage_{table}_{zlib.crc32(','.join(columns).encode()):08x}"
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS"
        f" AS SELECT {names(columns)} FROM {table} WITH NO DATA"
    )
    copy_rows(cur, stage, columns, rows)
    return stage


def upsert_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Collection[Sequence[Any]],
    *,
    update: Sequence[str] | None = None,
    merge: str | None = None,
) -> None:
    """Insert ``rows`` (unique by ``key``) or, on conflict, update the existing row, with COPY
    into staging plus ONE ``INSERT ... ON CONFLICT``.

    ``merge`` is the ``SET`` list on conflict, the existing row being ``t`` and the new one
    ``excluded`` (e.g. ``n = t.n + excluded.n``); by default the ``update`` columns (all
    non-key columns unless given) are replaced.
    """
    if not rows:
        return
    stage = stage_rows(cur, table, columns, rows)
    if merge is None:
        targets = update if update is not None else [c for c in columns if c not in key]
        merge = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in targets)
    action = f"DO UPDATE SET {merge}" if merge else "DO NOTHING"
    cols = names(columns)
    cur.execute(  # in key order: concurrent upserts of shared rows lock them in one order
        f"WITH s AS (DELETE FROM {stage} RETURNING {cols})"
        f" INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM s ORDER BY {', '.join(key)}"
        f" ON CONFLICT ({', '.join(key)}) {action}"
    )


def store_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    key: str,
    rows: Collection[Sequence[Any]],
    *,
    stored: Container[str],
) -> None:
    """Write per-key state ``rows`` (tuples in ``columns`` order): COPY straight into ``table``
    those whose ``key`` (text) is not in ``stored`` (the keys read from it in this
    transaction), replace the others with :func:`upsert_rows`.

    Most of a batch's states are new (their aggregate opened in the batch): one COPY instead of
    a COPY into staging plus an ``INSERT ... ON CONFLICT`` for each of them. A key written by a
    concurrent transaction meanwhile fails the COPY (a unique violation, rolled back), never
    writes twice.
    """
    at = list(columns).index(key)
    new: list[Sequence[Any]] = []
    known: list[Sequence[Any]] = []
    for row in rows:
        (known if str(row[at]) in stored else new).append(row)
    copy_rows(cur, table, columns, new)
    upsert_rows(cur, table, columns, (key,), known)


def update_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    key: str,
    rows: Collection[Sequence[Any]],
    *,
    merge: str | None = None,
) -> None:
    """Update ``columns`` of existing rows (matched on ``key``, one of ``columns``) with COPY
    into staging plus ONE ``UPDATE ... FROM``.

    ``merge`` is the ``SET`` list, the existing row being ``t`` and the staged one ``s``
    (e.g. ``n = t.n + s.n``); by default the staged values replace the others.
    """
    if not rows:
        return
    stage = stage_rows(cur, table, columns, rows)
    sets = merge or ", ".join(f"{_quote(c)} = s.{_quote(c)}" for c in columns if c != key)
    execute_keyed(
        cur,
        f"WITH s AS (DELETE FROM {stage} RETURNING {names(columns)})"
        f" UPDATE {table} AS t SET {sets} FROM s WHERE t.{key} = s.{key}",
    )


_NESTED_LOOPS_ON = (
    "SELECT set_config('supportes.hashjoin', current_setting('enable_hashjoin'), true),"
    " set_config('supportes.mergejoin', current_setting('enable_mergejoin'), true),"
    " set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);\n"
)
_NESTED_LOOPS_OFF = (
    ";\nSELECT set_config('enable_hashjoin', current_setting('supportes.hashjoin'), true),"
    " set_config('enable_mergejoin', current_setting('supportes.mergejoin'), true)"
)


def execute_keyed(cur: psycopg2.extensions.cursor, query: str, params: Any = None) -> None:
    """Run ``query``, whose joins start from a batch-sized set of keys, with nested loops over
    index lookups only (hash and merge joins off for this statement, then restored).

    Without it the planner tends to hash-join a batch's few hundred keys with a sequential scan
    of the whole table once it has a few thousand rows: a cost growing with the table, per batch.
    """
    cur.execute(_NESTED_LOOPS_ON + query + _NESTED_LOOPS_OFF, params)


def fetch_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    key: str,
    ids: Collection[str],
) -> dict[str, Row]:
    """The rows of ``table`` whose uuid ``key`` is in ``ids``, by key (text)."""
    if not ids:
        return {}
    at = list(columns).index(key)
    cur.execute(f"SELECT {names(columns)} FROM {table} WHERE {key} = ANY(%s::uuid[])", (list(ids),))
    return {str(row[at]): dict(zip(columns, row)) for row in cur.fetchall()}  # noqa: B905


def as_tuples(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples in ``columns`` order."""
    return [tuple([row[c] for c in columns]) for row in rows]


def changed_tuples(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    before: Mapping[str, tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """The rows (as tuples) that are new or differ from ``before`` (tuples by key)."""
    out = []
    for key, row in rows.items():
        now = tuple([row[c] for c in columns])
        if before.get(key) != now:
            out.append(now)
    return out


def names(columns: Sequence[str]) -> str:
    """A column list for SQL (``offset`` quoted)."""
    return ", ".join(_quote(c) for c in columns)


def _quote(column: str) -> str:
    return '"offset"' if column == "offset" else column
