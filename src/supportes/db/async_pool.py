"""PostgreSQL on the event loop: psycopg2's asynchronous connections, waited for with asyncio.

A request that needs one quick query should not pay a thread hand-off for it: measured on the
2-core machine, one ``run_in_threadpool`` hop took a minimal FastAPI route from ~8,000 to
~3,000-3,600 requests/s. psycopg2 can drive libpq without blocking (``async_=True``: the
caller polls the connection and waits for its socket), so the wait is an ``add_reader`` on the
loop, as aiopg does, with no thread and no GIL hand-off.

At most ``size`` connections are open; a query beyond them waits (up to ``wait_s``) for one.
Sessions are read-only. A connection that failed, or whose query was cancelled half-way (the
client went away), is closed, never reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from supportes.db.connect import first_line, redact_dsn
from supportes.db.pool import PoolExhaustedError
from supportes.errors import ConfigError, DatabaseUnavailableError


async def wait_ready(conn: psycopg2.extensions.connection) -> None:
    """Wait until ``conn`` finished what it was doing (connecting, or a query)."""
    loop = asyncio.get_running_loop()
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        ready = loop.create_future()
        fd = conn.fileno()
        if state == psycopg2.extensions.POLL_READ:
            loop.add_reader(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        elif state == psycopg2.extensions.POLL_WRITE:
            loop.add_writer(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(fd)
        else:  # pragma: no cover - libpq documents no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


class AsyncConnectionPool:
    """Up to ``size`` asynchronous read-only connections to ``dsn``; use from one event loop."""

    def __init__(
        self,
        dsn: str,
        size: int = 8,
        *,
        connect_timeout_s: float = 10.0,
        wait_s: float = 5.0,
        setting: str = "SUPPORTES_PG_DSN",
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self.size = size
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._wait_s = wait_s
        self._setting = setting
        self._idle: list[psycopg2.extensions.connection] = []
        self._slots: asyncio.Semaphore | None = None  # made on first use, on the serving loop

    async def fetch_dicts(
        self, query: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """Every row of ``query`` as a column-name -> value dict.

        Raises :class:`~supportes.errors.DatabaseUnavailableError` (PostgreSQL unreachable, or
        every connection busy for ``wait_s``) and psycopg2's errors of the query itself.
        """
        async with self.connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(query, params)
                await wait_ready(conn)
                names = [column.name for column in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            finally:
                cur.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg2.extensions.connection]:
        """A connection for one unit of work, handed back afterwards."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        slots = self._slots
        if slots.locked():  # every connection busy: wait, bounded
            try:
                await asyncio.wait_for(slots.acquire(), self._wait_s)
            except TimeoutError:
                raise PoolExhaustedError(
                    f"all {self.size} PostgreSQL connections stayed busy for {self._wait_s:g}s"
                ) from None
        else:  # a free one: taken at once (wait_for would make a task and a loop turn of it)
            await slots.acquire()
        conn: psycopg2.extensions.connection | None = None
        try:
            while self._idle and conn is None:
                conn = self._idle.pop()
                if conn.closed:
                    conn = None
            if conn is None:
                conn = await self._open()
            reusable = True  # a query error leaves an autocommit session usable ...
            try:
                yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                reusable = False  # ... a broken link does not
                raise
            finally:
                if reusable and self._usable(conn):
                    self._idle.append(conn)
                else:
                    conn.close()  # also when cancelled half-way through a query
        finally:
            slots.release()

    def close(self) -> None:
        """Close the idle connections (those in use are closed when handed back)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @staticmethod
    def _usable(conn: psycopg2.extensions.connection) -> bool:
        return not conn.closed and not conn.isexecuting()

    async def _open(self) -> psycopg2.extensions.connection:
        try:
            conn = psycopg2.connect(self._dsn, async_=True)
        except psycopg2.ProgrammingError as exc:
            raise ConfigError(
                f"{self._setting} is not a valid PostgreSQL DSN ({first_line(exc)})"
            ) from None
        except psycopg2.OperationalError as exc:
            raise self._unavailable(exc) from None
        try:
            await asyncio.wait_for(wait_ready(conn), self._connect_timeout_s)
            cur = conn.cursor()
            cur.execute("SET default_transaction_read_only = on")
            await wait_ready(conn)
            cur.close()
        except (psycopg2.OperationalError, TimeoutError) as exc:
            conn.close()
            raise self._unavailable(exc) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {redact_dsn(self._dsn)} ({self._setting}): "
            f"{first_line(exc) if str(exc) else 'timed out'}"
        )
