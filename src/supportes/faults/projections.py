"""Projections against a fresh rebuild: per-table checksums of ``proj.*`` and a comparison.

The checksum of a table is its row count and the md5 of its rows as JSON (minus ``ignore``d
columns), ordered by primary key (by every column when it has none). Only counts and table
names reach the report, never row contents.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from supportes.db.connect import connect

SKIPPED_TABLES = frozenset({"offsets"})
"""Projector progress, not content: a rebuild stores its own."""


@dataclass(frozen=True)
class TableSum:
    """Row count and md5 of one table's rows."""

    rows: int
    md5: str


def table_checksums(
    conn: psycopg2.extensions.connection,
    *,
    schema: str = "proj",
    skip: Collection[str] = SKIPPED_TABLES,
    ignore: Collection[str] = (),
) -> dict[str, TableSum]:
    """Checksums of every base table of ``schema`` but ``skip``, by table name."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
            (schema,),
        )
        tables = [name for (name,) in cur.fetchall() if name not in skip]
        sums = {}
        for table in tables:
            order = key_columns(cur, schema, table)
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg((to_jsonb(t) - %s::text[])::text,"
                " E'\\n' ORDER BY {order}), '')) FROM {table} AS t"
            ).format(
                order=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in order)
                if order
                else sql.SQL("to_jsonb(t)::text"),
                table=sql.Identifier(schema, table),
            )
            cur.execute(query, (list(ignore),))
            found = cur.fetchone()
            assert found is not None
            rows, digest = found
            sums[table] = TableSum(int(rows), str(digest))
    conn.rollback()
    return sums


def database_checksums(dsn: str, **options: Any) -> dict[str, TableSum]:
    """:func:`table_checksums` of the database at ``dsn`` (connects, reads, closes)."""
    conn = connect(dsn)
    try:
        return table_checksums(conn, **options)
    finally:
        conn.close()


def compare_checksums(
    live: Mapping[str, TableSum], rebuilt: Mapping[str, TableSum]
) -> list[dict[str, Any]]:
    """One difference per table missing on one side or with other contents (empty: equal)."""
    differences: list[dict[str, Any]] = []
    for table in sorted(set(live) | set(rebuilt)):
        mine, theirs = live.get(table), rebuilt.get(table)
        if mine == theirs:
            continue
        differences.append(
            {
                "table": f"proj.{table}",
                "live_rows": None if mine is None else mine.rows,
                "rebuilt_rows": None if theirs is None else theirs.rows,
                "kind": "missing_table" if mine is None or theirs is None else "contents_differ",
            }
        )
    return differences


def key_columns(cur: Any, schema: str, table: str) -> list[str]:
    """The primary-key columns of ``schema.table``, in key order (none: no primary key)."""
    cur.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (f'"{schema}"."{table}"',),
    )
    return [name for (name,) in cur.fetchall()]
