"""Finding a case by id or reference, and its current row in ``proj.case_view``."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import psycopg2.extensions

from supportes.errors import UsageError
from supportes.ops.queries import dict_rows

_REFERENCE = re.compile(r"^SR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def resolve_aggregate_id(conn: psycopg2.extensions.connection, text: str) -> UUID:
    """The aggregate id named by ``text``: a UUID with events in the index, or a case reference.

    Raises UsageError naming ``text`` when it is neither, or when nothing is known of it.
    """
    candidate = text.strip()
    if _REFERENCE.match(candidate.upper()):
        found = dict_rows(
            conn,
            "SELECT case_id FROM proj.case_view WHERE reference = %s",
            (candidate.upper(),),
        )
        if not found:
            raise UsageError(f"unknown case reference {candidate!r} (not in proj.case_view)")
        return UUID(str(found[0]["case_id"]))
    try:
        aggregate_id = UUID(candidate)
    except ValueError:
        raise UsageError(
            f"{text!r} is not a case id (a UUID) or a case reference (SR-XXXX-XXXX-XXXX)"
        ) from None
    known = dict_rows(
        conn,
        "SELECT 1 FROM event_index.events WHERE aggregate_id = %s AND version = 1"
        " UNION ALL SELECT 1 FROM event_index.parked_records WHERE kind = 'event'"
        " AND aggregate_id = %s AND version = 1",
        (str(aggregate_id), str(aggregate_id)),
    )
    if not known:
        raise UsageError(f"unknown case id {aggregate_id} (no events in the event index)")
    return aggregate_id


CASE_VIEW_BY_ID = "SELECT * FROM proj.case_view WHERE case_id = %s"
CASE_VIEW_BY_REFERENCE = "SELECT * FROM proj.case_view WHERE reference = %s"


def case_view_query(text: str) -> tuple[str, tuple[str]] | None:
    """The query (and its parameter) of the ``proj.case_view`` row of the case ``text`` names
    (its id or its reference); None when ``text`` is neither."""
    candidate = text.strip()
    if _REFERENCE.match(candidate.upper()):
        return CASE_VIEW_BY_REFERENCE, (candidate.upper(),)
    try:
        return CASE_VIEW_BY_ID, (str(UUID(candidate)),)
    except ValueError:
        return None


def find_case_row(conn: psycopg2.extensions.connection, text: str) -> dict[str, Any] | None:
    """The ``proj.case_view`` row of the case ``text`` names (its id or its reference), in one
    query; None when ``text`` is neither or the projection has no such case."""
    query = case_view_query(text)
    if query is None:
        return None
    found = dict_rows(conn, *query)
    return found[0] if found else None


def case_row(conn: psycopg2.extensions.connection, case_id: UUID) -> dict[str, Any]:
    """The case's row of ``proj.case_view``; UsageError when the projection has none (yet)."""
    found = dict_rows(conn, "SELECT * FROM proj.case_view WHERE case_id = %s", (str(case_id),))
    if not found:
        raise UsageError(
            f"case {case_id} is not in proj.case_view (a root cause, or the projector has not "
            "reached it yet: see `supportes projections status`)"
        )
    return found[0]


def open_follow_ups(conn: psycopg2.extensions.connection, case_id: UUID) -> list[dict[str, Any]]:
    """The case's items in ``proj.follow_up_queue``, soonest due first."""
    return dict_rows(
        conn,
        "SELECT kind, due_at, owner_id, detail FROM proj.follow_up_queue"
        " WHERE case_id = %s ORDER BY due_at, kind",
        (str(case_id),),
    )
