"""PostgreSQL's own view of a benchmark run: where its statement time went, by projection.

``pg_stat_statements`` (preloaded by the local stack, see
:func:`supportes.stack.postgres_local.preload_libraries`) is created in the run's scratch
database, reset for that database before the run and read after it. Each statement is put
down to the projection whose table it names first (its staging tables ``_stage_<table>_<hex>``
included): the target of a ``COPY``, ``INSERT``, ``UPDATE`` or ``WITH s AS (DELETE FROM
_stage_...)``. The projector's own statements (offsets, parked events) and the rest are
counted apart. A ``COPY ... FROM STDIN``'s time includes receiving its rows from the client.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions

from supportes.projections.registry import all_projections
from supportes.settings import Settings
from supportes.stack.postgres_local import STATEMENTS_LIBRARY, superuser_connect

PROJECTOR = "projector"
"""The owner of the projector's own statements (offsets, parked events, commits)."""
OTHER = "other"
PROJECTOR_TABLES = ("offsets", "parked_events")

_STATEMENTS = """
SELECT query, total_exec_time, calls, rows FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_RESET = (
    "SELECT pg_stat_statements_reset(0,"
    " (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)


@dataclass(frozen=True)
class OwnerTime:
    """The statement time of one owner (a projection, the projector, or other)."""

    owner: str
    exec_s: float
    calls: int
    rows: int


@dataclass
class StatementView:
    """What ``pg_stat_statements`` said about one run (``reason`` when it could not say)."""

    reason: str = ""
    times: list[OwnerTime] = field(default_factory=list)

    @property
    def available(self) -> bool:
        """True when the run was observed."""
        return not self.reason

    @property
    def total_s(self) -> float:
        """All statements' execution time, in seconds."""
        return sum(t.exec_s for t in self.times)

    def note(self, top: int = 8) -> str:
        """The owners by time, the largest first: ``case_view 2.1 s (31 %), ...``."""
        total = self.total_s or 1.0
        return ", ".join(
            f"{t.owner} {t.exec_s:.1f} s ({100 * t.exec_s / total:.0f} %)" for t in self.times[:top]
        )


def table_owners() -> dict[str, str]:
    """Every projection table (and the projector's own) -> who owns it."""
    owners = dict.fromkeys(PROJECTOR_TABLES, PROJECTOR)
    for projection in all_projections():
        for table in projection.tables:
            owners[table] = projection.name
    return owners


def _pattern(owners: Mapping[str, str]) -> re.Pattern[str]:
    tables = sorted(owners, key=len, reverse=True)  # the longest first: no prefix wins
    alternatives = "|".join(re.escape(t) for t in tables)
    return re.compile(
        rf"(?<![A-Za-z0-9_])(?:_stage_)?({alternatives})(?:_[0-9a-f]{{8}})?(?![A-Za-z0-9_])"
    )


def owner_of(query: str, owners: Mapping[str, str], pattern: re.Pattern[str] | None = None) -> str:
    """Who a statement belongs to: the owner of the first table it names, else :data:`OTHER`."""
    found = (pattern or _pattern(owners)).search(query)
    return owners[found.group(1)] if found else OTHER


def by_owner(
    statements: Iterable[tuple[str, float, int, int]], owners: Mapping[str, str]
) -> list[OwnerTime]:
    """Sum ``(query, total_exec_time ms, calls, rows)`` per owner, the largest time first."""
    pattern = _pattern(owners)
    sums: dict[str, list[float]] = {}
    for query, exec_ms, calls, rows in statements:
        owner = owner_of(query, owners, pattern)
        entry = sums.setdefault(owner, [0.0, 0, 0])
        entry[0] += exec_ms / 1000.0
        entry[1] += calls
        entry[2] += rows
    times = [OwnerTime(o, s, int(c), int(r)) for o, (s, c, r) in sums.items()]
    return sorted(times, key=lambda t: (-t.exec_s, t.owner))


@contextlib.contextmanager
def statement_view(settings: Settings, dsn: str) -> Iterator[StatementView]:
    """Observe the statements run in ``dsn``'s database inside the ``with`` block; the view
    is filled when it ends (or says why it cannot be: a configured PostgreSQL, or a local
    server started before it preloaded the library)."""
    view = StatementView()
    if not settings.pg_is_local:
        view.reason = "a configured PostgreSQL (only the local stack preloads pg_stat_statements)"
        yield view
        return
    dbname = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    conn = superuser_connect(settings, dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW shared_preload_libraries")
            row = cur.fetchone()
            if row is None or STATEMENTS_LIBRARY not in str(row[0]):
                view.reason = (
                    f"{STATEMENTS_LIBRARY} not loaded: the local PostgreSQL started before"
                    " supportes preloaded it (supportes stack down, then make stack-up)"
                )
                yield view
                return
            cur.execute(f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS_LIBRARY}")
            cur.execute(_RESET)
        yield view
        with conn.cursor() as cur:
            cur.execute(_STATEMENTS)
            view.times = by_owner(_rows(cur.fetchall()), table_owners())
    finally:
        conn.close()


def _rows(found: Sequence[tuple[object, ...]]) -> list[tuple[str, float, int, int]]:
    return [(str(q), float(str(t)), int(str(c)), int(str(r))) for q, t, c, r in found]
