"""A read-write transaction on an autocommit connection (the pools' sessions are autocommit and
may be read-only by default: ``BEGIN READ WRITE`` overrides that for one transaction)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions


@contextlib.contextmanager
def read_write(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor in ``BEGIN READ WRITE ... COMMIT``; rolled back when the block raises."""
    with conn.cursor() as cur:
        cur.execute("BEGIN READ WRITE")
        try:
            yield cur
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg2.Error):
                    cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
