"""Which cases a caller may see: another customer's case is answered 404, never 403."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg2.extensions

from supportes.api.errors import ApiError
from supportes.auth import Principal
from supportes.auth.policy import Scope, case_visible, read_scope
from supportes.ops.queries import dict_rows


def not_found(what: str) -> ApiError:
    """The one 404 for things that do not exist and things the caller may not see."""
    return ApiError(404, "not_found", f"{what} not found")


def via_ids(conn: psycopg2.extensions.connection, case_id: UUID) -> frozenset[str]:
    """The integrations that acted on the case (from its timeline)."""
    rows = dict_rows(
        conn,
        "SELECT DISTINCT via_id FROM proj.case_timeline WHERE case_id = %s AND via_id IS NOT NULL",
        (str(case_id),),
    )
    return frozenset(str(row["via_id"]) for row in rows)


def require_visible(
    conn: psycopg2.extensions.connection, caller: Principal, case_id: UUID, customer_id: str
) -> None:
    """404 unless ``caller`` may see the case of ``customer_id``."""
    acted = via_ids(conn, case_id) if read_scope(caller) is Scope.ACTED_ON else frozenset()
    if not case_visible(caller, case_customer_id=customer_id, via_ids=acted):
        raise not_found(f"case {case_id}")


def visible_case(
    conn: psycopg2.extensions.connection, caller: Principal, case_id: UUID
) -> dict[str, Any]:
    """The case's ``proj.case_view`` row; 404 when there is none or the caller may not see it."""
    rows = dict_rows(conn, "SELECT * FROM proj.case_view WHERE case_id = %s", (str(case_id),))
    if not rows:
        raise not_found(f"case {case_id}")
    require_visible(conn, caller, case_id, str(rows[0]["customer_id"]))
    return rows[0]


def customer_of(conn: psycopg2.extensions.connection, case_id: UUID) -> str | None:
    """The customer of a case as its first event on the log recorded it (the event index), or
    None when no such case was opened (yet)."""
    rows = dict_rows(
        conn,
        "SELECT envelope->'payload'->>'customer_id' AS customer_id FROM event_index.events"
        " WHERE aggregate_id = %s AND version = 1 AND type = 'CaseOpened'",
        (str(case_id),),
    )
    return str(rows[0]["customer_id"]) if rows and rows[0]["customer_id"] else None
