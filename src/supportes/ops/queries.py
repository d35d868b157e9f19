"""Small read helpers for the operator verbs: rows as dicts, one connection per verb."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from supportes.db.connect import connect_as
from supportes.settings import PgComponent, Settings


@contextmanager
def reading(
    settings: Settings, component: PgComponent = PgComponent.API
) -> Iterator[psycopg2.extensions.connection]:
    """A read-only connection as ``component`` (closed afterwards): the API role reads proj and
    event_index; pass ``PgComponent.ANALYTICS`` when proj suffices."""
    conn = connect_as(settings, component)
    try:
        conn.set_session(readonly=True, autocommit=True)
        yield conn
    finally:
        conn.close()


def dict_rows(
    conn: psycopg2.extensions.connection,
    query: str | sql.Composable,
    params: Sequence[Any] | dict[str, Any] = (),
) -> list[dict[str, Any]]:
    """Every row of ``query`` as a column-name → value dict."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [column.name for column in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
