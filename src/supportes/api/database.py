"""The API's PostgreSQL connections: a small pool of read-only, autocommit sessions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from supportes.api.errors import ApiError
from supportes.db.connect import connect
from supportes.errors import DatabaseUnavailableError
from supportes.logs import get_logger
from supportes.settings import PgComponent, Settings

log = get_logger("api.db")


class Database:
    """Up to ``size`` idle connections kept; more are opened on demand and closed after use.

    A connection that failed (server restarted, network cut) is dropped, never handed out again;
    the request gets 503 and the next one opens a fresh connection.
    """

    def __init__(self, settings: Settings, size: int, *, readonly: bool = True) -> None:
        self._dsn = settings.dsn_for(PgComponent.API)
        self._timeout_s = settings.connect_timeout_s
        self._size = size
        self._readonly = readonly
        self._idle: list[psycopg2.extensions.connection] = []
        self._lock = threading.Lock()

    def _open(self) -> psycopg2.extensions.connection:
        conn = connect(self._dsn, timeout_s=self._timeout_s)
        conn.set_session(readonly=self._readonly, autocommit=True)
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection for one request (503 when PostgreSQL cannot be reached)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = self._open()
        except DatabaseUnavailableError as exc:
            log.warning("database unavailable", error=str(exc))
            raise ApiError(503, "unavailable", "PostgreSQL is unavailable; retry later") from None
        healthy = True
        try:
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            healthy = False
            log.warning("database error", error=type(exc).__name__)
            raise ApiError(503, "unavailable", "PostgreSQL is unavailable; retry later") from None
        finally:
            if healthy and not conn.closed and conn.status == psycopg2.extensions.STATUS_READY:
                with self._lock:
                    if len(self._idle) < self._size:
                        self._idle.append(conn)
                        conn = None
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
