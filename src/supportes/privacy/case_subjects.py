"""Which customer each case belongs to, for sealing: ``privacy.case_subjects`` in PostgreSQL.

An ``OpenCase`` binds its case to its customer before the command is sent (so the case's next
command, from any process, finds the subject at once: the event index is written only after
the writer's commit). Cases opened before encryption have no row; their customer comes from
their ``CaseOpened`` in the event index. Answers found are remembered (a case's customer never
changes), bounded, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from supportes.db.pool import ConnectionPool

CASES_KEPT = 100_000

BIND = (
    "INSERT INTO privacy.case_subjects (case_id, subject) VALUES (%s, %s)"
    " ON CONFLICT (case_id) DO NOTHING"
)
BOUND = (
    "SELECT subject FROM privacy.case_subjects WHERE case_id = %s"
    " UNION ALL SELECT envelope->'payload'->>'customer_id' FROM event_index.events"
    " WHERE aggregate_id = %s AND version = 1 AND type = 'CaseOpened' LIMIT 1"
)


class PgCaseSubjects:
    """:class:`~supportes.privacy.edge.CaseSubjects` in PostgreSQL; thread-safe."""

    def __init__(self, pool: ConnectionPool, capacity: int = CASES_KEPT) -> None:
        """``pool``: connections that may write (not read-only)."""
        self.pool = pool
        self._capacity = capacity
        self._known: OrderedDict[UUID, str] = OrderedDict()
        self._lock = threading.Lock()

    def bind(self, case_id: UUID, subject: str) -> str:
        """Bind ``case_id`` to ``subject`` unless it is bound already; the bound subject."""
        known = self._remembered(case_id)
        if known is not None:
            return known
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(BIND, (str(case_id), subject))
        bound = self.subject_of(case_id)
        return subject if bound is None else bound

    def subject_of(self, case_id: UUID) -> str | None:
        """The subject of ``case_id``, or None when no such case was opened."""
        known = self._remembered(case_id)
        if known is not None:
            return known
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(BOUND, (str(case_id), str(case_id)))
            row = cur.fetchone()
        if row is None or not row[0]:
            return None
        self._remember(case_id, str(row[0]))
        return str(row[0])

    def _remembered(self, case_id: UUID) -> str | None:
        with self._lock:
            subject = self._known.get(case_id)
            if subject is not None:
                self._known.move_to_end(case_id)
            return subject

    def _remember(self, case_id: UUID, subject: str) -> None:
        with self._lock:
            self._known[case_id] = subject
            self._known.move_to_end(case_id)
            if len(self._known) > self._capacity:
                self._known.popitem(last=False)
