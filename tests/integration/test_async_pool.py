"""The asynchronous pool (asyncpg: queries waited for on the event loop) against the real
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import asyncpg
import pytest

from supportes.db.async_pool import AsyncConnectionPool
from supportes.db.connect import connect
from supportes.db.pool import PoolExhaustedError
from supportes.errors import DatabaseUnavailableError
from supportes.settings import Settings
from tests.e2e.cli import free_port


def _run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_queries_run_concurrently_on_one_thread_and_connections_are_reused(
    stack: Settings,
) -> None:
    async def scenario() -> tuple[float, set[int], list[dict[str, object]]]:
        pool = AsyncConnectionPool(stack.dsn, 4)
        try:
            began = time.monotonic()
            await asyncio.gather(*(pool.fetch_dicts("SELECT pg_sleep(0.3)") for _ in range(4)))
            took = time.monotonic() - began
            pids = {
                int(str(row[0]["pid"]))
                for row in await asyncio.gather(
                    *(pool.fetch_dicts("SELECT pg_backend_pid() AS pid") for _ in range(8))
                )
            }
            typed = await pool.fetch_dicts(
                "SELECT %s::int AS n, now() AS at, 'x'::text AS s, %s::uuid AS id,"
                " '{\"a\": [1]}'::jsonb AS doc, 1.5::numeric AS amount, ARRAY['t'] AS tags,"
                " '100%%' AS percent",
                (7, "0f83449b-59ee-4d04-aae0-4f4e5368d67d"),
            )
            return took, pids, typed
        finally:
            pool.close()

    took, pids, typed = _run(scenario())  # type: ignore[misc]
    assert took < 1.0  # four 0.3 s queries at once, not one after another
    assert len(pids) <= 4  # no connection beyond the pool's size
    assert typed[0]["n"] == 7
    assert typed[0]["at"].tzinfo is not None  # type: ignore[attr-defined]
    # the types psycopg2 gives, so rows encode alike whichever driver read them
    assert type(typed[0]["id"]) is uuid.UUID
    assert typed[0]["doc"] == {"a": [1]}
    assert typed[0]["amount"] == Decimal("1.5")
    assert typed[0]["tags"] == ["t"]
    assert typed[0]["percent"] == "100%"


def test_bounded_a_query_waits_then_gives_up(stack: Settings) -> None:
    async def scenario() -> None:
        pool = AsyncConnectionPool(stack.dsn, 1, wait_s=0.2)
        try:
            slow = asyncio.create_task(pool.fetch_dicts("SELECT pg_sleep(0.6)"))
            await asyncio.sleep(0.1)
            with pytest.raises(PoolExhaustedError):
                await pool.fetch_dicts("SELECT 1")
            await slow
            assert await pool.fetch_dicts("SELECT 1 AS one") == [{"one": 1}]
        finally:
            pool.close()

    _run(scenario())


def test_read_only_and_usable_after_a_query_error(stack: Settings) -> None:
    async def scenario() -> None:
        pool = AsyncConnectionPool(stack.dsn, 1)
        try:
            with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
                await pool.fetch_dicts("CREATE TABLE nope (x int)")
            with pytest.raises(asyncpg.exceptions.UndefinedTableError):
                await pool.fetch_dicts("SELECT * FROM no_such_table")
            assert await pool.fetch_dicts("SELECT 2 AS two") == [{"two": 2}]
        finally:
            pool.close()

    _run(scenario())


def test_a_broken_connection_is_replaced(stack: Settings) -> None:
    async def scenario() -> None:
        pool = AsyncConnectionPool(stack.dsn, 1)
        admin = connect(stack.dsn)
        admin.autocommit = True
        try:
            # an idle connection whose backend went away is noticed and not handed out
            idle = (await pool.fetch_dicts("SELECT pg_backend_pid() AS pid"))[0]["pid"]
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (idle,))
            await asyncio.sleep(0.2)
            busy = (await pool.fetch_dicts("SELECT pg_backend_pid() AS pid"))[0]["pid"]
            assert busy != idle
            # a link lost during a query is DatabaseUnavailableError (503), then replaced
            slow = asyncio.create_task(pool.fetch_dicts("SELECT pg_sleep(5)"))
            await asyncio.sleep(0.3)
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (busy,))
            with pytest.raises(DatabaseUnavailableError, match="lost the connection"):
                await slow
            fresh = (await pool.fetch_dicts("SELECT pg_backend_pid() AS pid"))[0]["pid"]
            assert fresh not in (idle, busy)
        finally:
            admin.close()
            pool.close()

    _run(scenario())


def test_a_cancelled_query_does_not_leave_its_connection_in_the_pool(stack: Settings) -> None:
    async def scenario() -> None:
        pool = AsyncConnectionPool(stack.dsn, 1)
        try:
            slow = asyncio.create_task(pool.fetch_dicts("SELECT pg_sleep(5)"))
            await asyncio.sleep(0.2)
            slow.cancel()  # the client went away
            with pytest.raises(asyncio.CancelledError):
                await slow
            began = time.monotonic()
            assert await pool.fetch_dicts("SELECT 3 AS three") == [{"three": 3}]
            assert time.monotonic() - began < 2  # a fresh connection, not the busy one
        finally:
            pool.close()

    _run(scenario())


def test_unreachable_postgresql_is_database_unavailable(stack: Settings) -> None:
    async def scenario() -> None:
        pool = AsyncConnectionPool(
            f"postgresql://nobody@127.0.0.1:{free_port()}/x", 1, connect_timeout_s=2
        )
        with pytest.raises(DatabaseUnavailableError, match="SUPPORTES_PG_DSN"):
            await pool.fetch_dicts("SELECT 1")

    _run(scenario())
