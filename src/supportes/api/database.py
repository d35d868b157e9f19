"""The API's PostgreSQL access, with failures answered 503: a bounded pool of read-only
autocommit sessions for work done in the threadpool (the service layer's functions, the
API-token check), and one of asyncpg sessions for single queries answered on the event loop
(no thread hand-off: the hot reads)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from supportes.api.errors import ApiError
from supportes.db.async_pool import AsyncConnectionPool
from supportes.db.pool import ConnectionPool
from supportes.errors import DatabaseUnavailableError
from supportes.logs import get_logger
from supportes.settings import PgComponent, Settings

log = get_logger("api.db")


def _pool_options(settings: Settings) -> dict[str, Any]:
    """What both of the API's pools are made from: its role's DSN and the pool settings."""
    return {
        "dsn": settings.dsn_for(PgComponent.API),
        "size": settings.api_db_connections,
        "connect_timeout_s": settings.connect_timeout_s,
        "wait_s": settings.api_db_wait_s,
        "setting": settings.dsn_source(PgComponent.API),
    }


def api_pool(settings: Settings) -> ConnectionPool:
    """The API process's pool (``SUPPORTES_API_DB_CONNECTIONS``), shared by the routes and the
    API-token check."""
    return ConnectionPool(**_pool_options(settings))


def api_async_pool(settings: Settings) -> AsyncConnectionPool:
    """The API process's pool of asynchronous sessions (as many as ``api_pool``)."""
    return AsyncConnectionPool(**_pool_options(settings))


class Database:
    """Connections for requests from ``pool`` (and queries on the loop from ``async_pool``); a
    request that cannot get one gets 503.

    A connection that failed (server restarted, network cut) is dropped by the pool, never
    handed out again; the request gets 503 and the next one opens a fresh connection.
    """

    def __init__(self, pool: ConnectionPool, async_pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.async_pool = async_pool

    async def fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one read-only ``query``, waited for on the event loop (503 when
        PostgreSQL cannot be reached)."""
        try:
            return await self.async_pool.fetch_dicts(query, params)
        except DatabaseUnavailableError as exc:  # the pool's name for a lost or refused link
            log.warning("database unavailable", error=str(exc))
            raise ApiError(503, "unavailable", "PostgreSQL is unavailable; retry later") from None

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection for one request (503 when PostgreSQL cannot be reached)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except DatabaseUnavailableError as exc:
            log.warning("database unavailable", error=str(exc))
            raise ApiError(503, "unavailable", "PostgreSQL is unavailable; retry later") from None
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            log.warning("database error", error=type(exc).__name__)
            raise ApiError(503, "unavailable", "PostgreSQL is unavailable; retry later") from None

    def close(self) -> None:
        """Close the pools' idle connections."""
        self.pool.close()
        self.async_pool.close()
