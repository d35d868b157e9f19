"""Database-level administration shared by tests and benchmarks."""

from __future__ import annotations

import time

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql


def drop_database(
    admin_conn: psycopg2.extensions.connection, database: str, *, timeout_s: float = 30.0
) -> None:
    """``DROP DATABASE ... WITH (FORCE)``, retried.

    PostgreSQL 15 refuses to terminate an autovacuum worker for a non-superuser, and workers
    visit freshly created databases often; the drop succeeds once the worker leaves.
    ``admin_conn`` must be in autocommit mode.
    """
    deadline = time.monotonic() + timeout_s
    with admin_conn.cursor() as cur:
        while True:
            try:
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
                return
            except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
