"""The console's reads that the CLI has no verb for: finding cases, and the follow-up queue
with what falls due soon beside what is overdue. Documented ``proj`` tables only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg2.extensions

from supportes.ops.case_lookup import find_case_row
from supportes.ops.queries import dict_rows

FIND_LIMIT = 50
QUEUE_LIMIT = 200
DUE_SOON = timedelta(hours=24)
"""The queue page shows what is overdue and what falls due within this."""

CASE_COLUMNS = (
    "case_id, reference, customer_id, subject, status, priority, owner_id, opened_at, updated_at"
)


def find_cases(conn: psycopg2.extensions.connection, text: str | None) -> list[dict[str, Any]]:
    """The case ``text`` names (its id or reference), else the cases of the customer it names
    (``customer:00042`` or ``00042``), newest first; the latest cases without ``text``."""
    if text is None or not text.strip():
        return dict_rows(
            conn,
            f"SELECT {CASE_COLUMNS} FROM proj.case_view ORDER BY opened_at DESC, case_id LIMIT %s",
            (FIND_LIMIT,),
        )
    text = text.strip()
    row = find_case_row(conn, text)
    if row is not None:
        return [row]
    customer = text if text.startswith("customer:") else f"customer:{text}"
    return dict_rows(
        conn,
        f"SELECT {CASE_COLUMNS} FROM proj.case_view WHERE customer_id = %s"
        " ORDER BY opened_at DESC, case_id LIMIT %s",
        (customer, FIND_LIMIT),
    )


def queue_items(
    conn: psycopg2.extensions.connection,
    now: datetime,
    owner: str | None,
    kind: str | None,
) -> list[dict[str, Any]]:
    """Open follow-up items overdue at ``now`` or due within :data:`DUE_SOON`, filtered by
    owner and kind, most overdue first (``overdue_seconds`` negative: not due yet)."""
    return dict_rows(
        conn,
        "SELECT subject_id, kind, item, due_at, reference, case_id, root_cause_id, owner_id,"
        " priority, detail, EXTRACT(EPOCH FROM %(now)s - due_at)::bigint AS overdue_seconds"
        " FROM proj.follow_up_queue WHERE due_at <= %(until)s"
        " AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
        " AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)"
        " ORDER BY due_at, subject_id, kind, item LIMIT %(limit)s",
        {
            "now": now,
            "until": now + DUE_SOON,
            "kind": kind,
            "owner": owner,
            "limit": QUEUE_LIMIT,
        },
    )


def queue_owners(conn: psycopg2.extensions.connection) -> list[str]:
    """Everyone with an open item (for the owner filter)."""
    rows = dict_rows(
        conn,
        "SELECT DISTINCT owner_id FROM proj.follow_up_queue WHERE owner_id IS NOT NULL"
        " ORDER BY owner_id",
    )
    return [str(r["owner_id"]) for r in rows]
