"""Acting as a component's PostgreSQL role in a test, to prove its grants."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from supportes.db.connect import connect
from supportes.settings import PgComponent


@contextmanager
def as_role(dsn: str, component: PgComponent) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor as ``component``'s role through ``dsn`` (checked; rolled back afterwards)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (component.role,)
            yield cur
    finally:
        conn.rollback()
        conn.close()


def assert_refused(dsn: str, component: PgComponent, statement: str) -> None:
    """``statement`` as ``component`` is refused for want of a privilege."""
    with as_role(dsn, component) as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute(statement)


def assert_allowed(dsn: str, component: PgComponent, statement: str) -> None:
    """``statement`` as ``component`` runs."""
    with as_role(dsn, component) as cur:
        cur.execute(statement)
