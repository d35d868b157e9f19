"""Which cases a caller may see: another customer's case is answered 404, never 403."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg2.extensions

from supportes.api.case_owners import CaseOwners
from supportes.api.database import Database
from supportes.api.errors import ApiError
from supportes.auth import Principal
from supportes.auth.policy import Scope, case_visible, read_scope
from supportes.ops.case_lookup import case_view_query
from supportes.ops.queries import dict_rows


def not_found(what: str) -> ApiError:
    """The one 404 for things that do not exist and things the caller may not see."""
    return ApiError(404, "not_found", f"{what} not found")


VIA_IDS = "SELECT DISTINCT via_id FROM proj.case_timeline WHERE case_id = %s AND via_id IS NOT NULL"


def via_ids(conn: psycopg2.extensions.connection, case_id: UUID) -> frozenset[str]:
    """The integrations that acted on the case (from its timeline)."""
    rows = dict_rows(conn, VIA_IDS, (str(case_id),))
    return frozenset(str(row["via_id"]) for row in rows)


def require_visible(
    conn: psycopg2.extensions.connection, caller: Principal, case_id: UUID, customer_id: str
) -> None:
    """404 unless ``caller`` may see the case of ``customer_id``."""
    acted = via_ids(conn, case_id) if read_scope(caller) is Scope.ACTED_ON else frozenset()
    if not case_visible(caller, case_customer_id=customer_id, via_ids=acted):
        raise not_found(f"case {case_id}")


async def visible_case_row(database: Database, caller: Principal, text: str) -> dict[str, Any]:
    """The ``proj.case_view`` row of the case ``text`` names (id or reference), read on the
    event loop (one query; two for an integration); 404 for unknown or not visible."""
    query = case_view_query(text)
    rows = await database.fetch(*query) if query is not None else []
    if not rows:
        raise not_found(f"case {text}")
    row = rows[0]
    acted: frozenset[str] = frozenset()
    if read_scope(caller) is Scope.ACTED_ON:
        found = await database.fetch(VIA_IDS, (str(row["case_id"]),))
        acted = frozenset(str(r["via_id"]) for r in found)
    if not case_visible(caller, case_customer_id=str(row["customer_id"]), via_ids=acted):
        raise not_found(f"case {text}")
    return row


def visible_case(
    conn: psycopg2.extensions.connection, caller: Principal, case_id: UUID
) -> dict[str, Any]:
    """The case's ``proj.case_view`` row; 404 when there is none or the caller may not see it."""
    rows = dict_rows(conn, "SELECT * FROM proj.case_view WHERE case_id = %s", (str(case_id),))
    if not rows:
        raise not_found(f"case {case_id}")
    require_visible(conn, caller, case_id, str(rows[0]["customer_id"]))
    return rows[0]


CUSTOMER_OF = (
    "SELECT envelope->'payload'->>'customer_id' AS customer_id FROM event_index.events"
    " WHERE aggregate_id = %s AND version = 1 AND type = 'CaseOpened'"
)


def customer_of(conn: psycopg2.extensions.connection, case_id: UUID) -> str | None:
    """The customer of a case as its first event on the log recorded it (the event index), or
    None when no such case was opened (yet)."""
    return _customer(dict_rows(conn, CUSTOMER_OF, (str(case_id),)))


async def customer_of_case(
    database: Database, case_id: UUID, owners: CaseOwners | None = None
) -> str | None:
    """:func:`customer_of`, read on the event loop (from ``owners`` when it knows the case)."""
    known = owners.get(case_id) if owners is not None else None
    if known is not None:
        return known
    customer = _customer(await database.fetch(CUSTOMER_OF, (str(case_id),)))
    if customer is not None and owners is not None:
        owners.remember(case_id, customer)
    return customer


def _customer(rows: list[dict[str, Any]]) -> str | None:
    return str(rows[0]["customer_id"]) if rows and rows[0]["customer_id"] else None
