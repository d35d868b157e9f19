"""The bounded connection pool against the real PostgreSQL: bounded, reused, broken ones dropped."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from supportes.db.connect import connect
from supportes.db.pool import ConnectionPool, PoolExhaustedError
from supportes.settings import Settings


@pytest.fixture
def pg(stack: Settings) -> Settings:
    return stack


def _backend_pid(conn: psycopg2.extensions.connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def test_connections_are_reused_and_bounded(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 2, wait_s=0.3)
    try:
        with pool.connection() as conn:
            first = _backend_pid(conn)
        with pool.connection() as conn:
            assert _backend_pid(conn) == first  # the same session, not a new one
        with pool.connection(), pool.connection():
            began = time.monotonic()
            with (
                pytest.raises(PoolExhaustedError, match="2 PostgreSQL connections"),
                pool.connection(),
            ):
                pass
            assert time.monotonic() - began >= 0.25  # it waited before giving up
        assert pool.idle() == 2
    finally:
        pool.close()


def test_a_waiter_gets_the_connection_handed_back(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 1, wait_s=5)
    got: list[int] = []
    try:
        with pool.connection() as held:
            holder = _backend_pid(held)

            def wait_for_it() -> None:
                with pool.connection() as conn:
                    got.append(_backend_pid(conn))

            waiter = threading.Thread(target=wait_for_it)
            waiter.start()
            time.sleep(0.2)
            assert not got  # still waiting: no second connection was opened
        waiter.join(5)
        assert got == [holder]
    finally:
        pool.close()


def test_sessions_are_autocommit_and_read_only(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 1)
    try:
        with pool.connection() as conn:
            assert conn.autocommit
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("CREATE TEMP TABLE nope (x int)")
        with pool.connection() as conn, conn.cursor() as cur:  # still usable after the error
            cur.execute("SELECT 1")
    finally:
        pool.close()


def test_a_broken_connection_is_dropped_and_replaced(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 1)
    admin = connect(pg.dsn)
    admin.autocommit = True
    try:
        with pool.connection() as conn:
            victim = _backend_pid(conn)
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (victim,))
        time.sleep(0.2)
        with pytest.raises(psycopg2.OperationalError), pool.connection() as conn:
            _backend_pid(conn)
        assert pool.idle() == 0  # never handed out again
        with pool.connection() as conn:
            assert _backend_pid(conn) != victim
    finally:
        admin.close()
        pool.close()


def test_an_error_of_the_caller_hands_the_connection_back(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 1)
    try:
        first = 0

        def fail_inside() -> None:
            nonlocal first
            with pool.connection() as conn:
                first = _backend_pid(conn)
                raise LookupError("404 raised inside")

        with pytest.raises(LookupError):
            fail_inside()
        with pool.connection() as conn:
            assert _backend_pid(conn) == first
    finally:
        pool.close()


def test_a_transaction_left_open_is_not_reused(pg: Settings) -> None:
    pool = ConnectionPool(pg.dsn, 1)
    try:
        with pool.connection() as conn:
            first = _backend_pid(conn)
            with conn.cursor() as cur:
                cur.execute("BEGIN")
        with pool.connection() as conn:
            assert _backend_pid(conn) != first
    finally:
        pool.close()
