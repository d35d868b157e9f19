"""PostgreSQL on the event loop: asyncpg connections for the API's single-query reads.

A request that needs one quick query should not pay a thread hand-off for it (one
``run_in_threadpool`` hop took a minimal FastAPI route from ~8,000 to ~3,000-3,600 requests/s
on the 2-core machine). asyncpg speaks PostgreSQL's protocol itself on the loop's sockets:
binary rows decoded in C and every query a prepared statement (cached per connection), so
PostgreSQL parses and plans each query once per connection. Measured on the case read
(``SELECT * FROM proj.case_view WHERE case_id = $1``, 49 columns), against psycopg2's
asynchronous mode driven by ``add_reader``: ~190 us against ~380 us of the API's CPU and
~160 against ~300 us of PostgreSQL's per query (same run, 3,000 queries).

Queries are written as everywhere else in supportes, in psycopg2's ``%s`` style (the same text
serves both drivers) and numbered (``$1``...) once per query text. Rows come back as dicts of
the types psycopg2 gives (``uuid.UUID``, aware datetimes, ``Decimal``, JSON decoded).

At most ``size`` connections are open; a query beyond them waits (up to ``wait_s``) for one.
Sessions are read-only. A connection that failed, or whose query was cancelled half-way (the
client went away), is closed, never reused; a lost link is raised as
:class:`~supportes.errors.DatabaseUnavailableError`, a query's own error as asyncpg's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
import psycopg2.extensions

from supportes.db.connect import first_line, redact_dsn
from supportes.db.pool import PoolExhaustedError
from supportes.errors import ConfigError, DatabaseUnavailableError

URL_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "user",
        "password",
        "passfile",
        "dbname",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslpassword",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "service",
    }
)
"""libpq connection parameters asyncpg takes from a URL's query."""

LINK_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # the connection is closed or was lost
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # terminated, shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
)
"""What says the link to PostgreSQL is gone (not that the query was wrong)."""

CONNECT_FAILURES: tuple[type[BaseException], ...] = (*LINK_FAILURES, asyncpg.PostgresError)
"""What makes a connection attempt fail for reasons of the server or the network."""

_PLACEHOLDER = re.compile(r"%(s|%)")


@functools.lru_cache(maxsize=256)
def numbered(query: str) -> str:
    """``query`` with psycopg2's positional ``%s`` placeholders as ``$1``, ``$2``... (and
    ``%%`` as ``%``); named ``%(name)s`` placeholders are not supported here."""
    if "%(" in query:
        raise ValueError("named placeholders are not supported on the event loop")
    count = 0

    def number(found: re.Match[str]) -> str:
        nonlocal count
        if found.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, query)


def connect_arguments(dsn: str, setting: str, timeout_s: float) -> dict[str, Any]:
    """asyncpg's ``connect`` arguments for a libpq ``dsn`` (URI or ``key=value``), parsed by
    libpq itself; ConfigError naming ``setting`` for a malformed DSN or a parameter asyncpg
    cannot honour."""
    try:
        parsed = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError as exc:
        raise ConfigError(f"{setting} is not a valid PostgreSQL DSN ({first_line(exc)})") from None
    query: dict[str, str] = {}
    server_settings = {"default_transaction_read_only": "on"}
    timeout = timeout_s
    for name, value in parsed.items():
        if name in URL_PARAMETERS:
            query[name] = value
        elif name == "hostaddr":
            query["host"] = value
        elif name == "connect_timeout":
            timeout = float(value) if float(value) > 0 else timeout_s
        elif name == "application_name":
            server_settings["application_name"] = value
        else:
            raise ConfigError(
                f"{setting}: the connection parameter {name!r} is not supported by the API's "
                "asynchronous PostgreSQL driver (asyncpg)"
            )
    return {
        "dsn": f"postgresql://?{urlencode(query)}",
        "timeout": timeout,
        "server_settings": server_settings,
    }


async def _types_as_psycopg2_gives_them(conn: asyncpg.Connection) -> None:
    """UUIDs as ``uuid.UUID`` (asyncpg's own subclass is not JSON-encodable by orjson) and JSON
    decoded, on this connection."""
    await conn.set_type_codec(
        "uuid", schema="pg_catalog", encoder=str, decoder=uuid.UUID, format="text"
    )
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            format="text",
        )


class AsyncConnectionPool:
    """Up to ``size`` read-only asyncpg connections to ``dsn``; use from one event loop."""

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
        self._arguments = connect_arguments(dsn, setting, connect_timeout_s)
        self._wait_s = wait_s
        self._setting = setting
        self._idle: list[asyncpg.Connection] = []
        self._slots: asyncio.Semaphore | None = None  # made on first use, on the serving loop

    async def fetch_dicts(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of ``query`` (``%s`` placeholders) as a column-name -> value dict.

        Raises :class:`~supportes.errors.DatabaseUnavailableError` (PostgreSQL unreachable or
        the link lost, or every connection busy for ``wait_s``) and asyncpg's
        ``PostgresError`` subclasses for errors of the query itself.
        """
        async with self.connection() as conn:
            try:
                rows = await conn.fetch(numbered(query), *params)
            except LINK_FAILURES as exc:
                raise self._lost(exc) from None
        return [dict(row.items()) for row in rows]

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one unit of work, handed back afterwards."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        slots = self._slots
        if slots.locked():  # every connection busy: wait, bounded (no task made for it)
            try:
                async with asyncio.timeout(self._wait_s):
                    await slots.acquire()
            except TimeoutError:
                raise PoolExhaustedError(
                    f"all {self.size} PostgreSQL connections stayed busy for {self._wait_s:g}s"
                ) from None
        else:
            await slots.acquire()
        conn: asyncpg.Connection | None = None
        try:
            while self._idle and conn is None:
                conn = self._idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await self._open()
            reusable = False
            try:
                yield conn
                reusable = True  # a query error leaves an autocommit session usable ...
            except asyncpg.PostgresError as exc:
                reusable = not isinstance(exc, LINK_FAILURES)  # ... a broken link does not
                raise
            finally:
                if reusable and not conn.is_closed():
                    self._idle.append(conn)
                else:
                    conn.terminate()  # also when cancelled half-way through a query
        finally:
            slots.release()

    def close(self) -> None:
        """Close the idle connections (those in use are closed when handed back)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(RuntimeError):  # its loop is closed: the socket goes with it
                conn.terminate()

    async def _open(self) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(**self._arguments)
        except (ValueError, asyncpg.ClientConfigurationError) as exc:
            raise ConfigError(
                f"{self._setting} is not a valid PostgreSQL DSN ({first_line(exc)})"
            ) from None
        except CONNECT_FAILURES as exc:  # refused, timed out, authentication, no database
            raise self._unavailable(exc) from None
        try:
            await _types_as_psycopg2_gives_them(conn)
        except BaseException as exc:
            conn.terminate()
            if isinstance(exc, LINK_FAILURES):
                raise self._unavailable(exc) from None
            raise
        return conn

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {redact_dsn(self._dsn)} ({self._setting}): "
            f"{first_line(exc) if str(exc) else 'timed out'}"
        )

    def _lost(self, exc: BaseException) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"lost the connection to PostgreSQL ({self._setting}): "
            f"{first_line(exc) if str(exc) else type(exc).__name__}"
        )
