"""The replay's own output written bare: a PostgreSQL ceiling that writes what the replay wrote.

The projection benchmark's ``pg COPY`` ceiling writes ONE timeline-shaped row per event into one
table; a replay writes every projection's rows (``rows written``, several per event) into a
dozen tables with their indexes, most of them updated many times on the way. This ceiling takes
the tables a replay left, reads each into memory (``COPY ... TO STDOUT``, not timed), and
times ``COPY ... FROM STDIN`` of the same rows into empty copies of those tables (``LIKE ...
INCLUDING ALL``: the same indexes and constraints) in one transaction: the least PostgreSQL
work that leaves the same tables, done by one client. ``events / seconds`` is the replay rate
PostgreSQL could not beat with one writer if folding cost nothing.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from psycopg2 import sql

from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.projections.registry import all_projections

_COPY_BUFFER = 1 << 20


@dataclass
class OutputCopy:
    """How long a bare COPY of a replay's output tables took."""

    rows: int = 0
    seconds: float = 0.0
    by_table: dict[str, float] = field(default_factory=dict)
    """Seconds per table."""

    def events_per_s(self, events: int) -> float:
        """The replay rate this ceiling allows for ``events`` events."""
        return rate(events, self.seconds)

    def note(self, top: int = 4) -> str:
        """The tables that took longest: ``case_timeline 1.9 s, ...``."""
        ranked = sorted(self.by_table.items(), key=lambda item: (-item[1], item[0]))[:top]
        return ", ".join(f"{table} {seconds:.1f} s" for table, seconds in ranked)


def projection_tables() -> list[str]:
    """Every projection's tables (unqualified), in the registry's order."""
    return [table for projection in all_projections() for table in projection.tables]


def output_copy_ceiling(dsn: str, tables: Sequence[str], schema: str = "proj") -> OutputCopy:
    """COPY the rows of ``schema``'s ``tables`` into empty copies of them in one transaction,
    timed with its commit; the copies' schema is dropped after."""
    scratch = f"bench_output_{uuid.uuid4().hex[:8]}"
    result = OutputCopy()
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
            for table in tables:
                source = sql.Identifier(schema, table)
                target = sql.Identifier(scratch, table)
                cur.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(target, source)
                )
                rows = io.BytesIO()
                cur.copy_expert(sql.SQL("COPY {} TO STDOUT").format(source).as_string(cur), rows)
                result.rows += rows.getvalue().count(b"\n")
                rows.seek(0)
                copy_in = sql.SQL("COPY {} FROM STDIN").format(target).as_string(cur)
                started = time.perf_counter()
                cur.copy_expert(copy_in, rows, size=_COPY_BUFFER)
                result.by_table[table] = time.perf_counter() - started
                rows.close()
            started = time.perf_counter()
            conn.commit()  # the writes' commit is part of their cost
            result.seconds = sum(result.by_table.values()) + time.perf_counter() - started
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch)))
        conn.commit()
    finally:
        conn.close()
    return result
