"""A bounded pool of PostgreSQL connections shared by threads.

At most ``size`` connections are open at any time; a caller beyond them waits (up to
``wait_s``) for one to be handed back, instead of opening a connection of its own: opening one
costs a SCRAM handshake, several round trips and a backend process, far more than the query it
was opened for. Connections are opened lazily, in autocommit mode (every statement its own
transaction, no ``COMMIT`` round trip), read-only unless asked otherwise, and a connection that
failed (server restarted, network cut) is closed, never handed out again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from supportes.db.connect import connect
from supportes.errors import DatabaseUnavailableError

Connect = Callable[[], psycopg2.extensions.connection]


class PoolExhaustedError(DatabaseUnavailableError):
    """Every connection of the pool stayed in use for the whole wait."""


class ConnectionPool:
    """Up to ``size`` connections from ``connect`` (or to ``dsn``); thread-safe."""

    def __init__(
        self,
        dsn: str = "",
        size: int = 8,
        *,
        connect_timeout_s: float = 10.0,
        wait_s: float = 5.0,
        readonly: bool = True,
        setting: str = "SUPPORTES_PG_DSN",
        connect_with: Connect | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self.size = size
        self._wait_s = wait_s
        self._readonly = readonly
        self._connect: Connect = connect_with or (
            lambda: connect(dsn, timeout_s=connect_timeout_s, setting=setting)
        )
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg2.extensions.connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection for one unit of work, handed back afterwards.

        Raises :class:`PoolExhaustedError` when none frees up within ``wait_s``, and
        :class:`~supportes.errors.DatabaseUnavailableError` when a new one cannot be opened.
        A ``psycopg2.OperationalError`` or ``InterfaceError`` raised inside closes the
        connection and propagates.
        """
        if not self._slots.acquire(timeout=self._wait_s):
            raise PoolExhaustedError(
                f"all {self.size} PostgreSQL connections stayed busy for {self._wait_s:g}s"
            )
        conn: psycopg2.extensions.connection | None = None
        try:
            with self._lock:
                if self._closed:
                    raise DatabaseUnavailableError("the connection pool is closed")
                while self._idle and conn is None:
                    conn = self._idle.pop()
                    if conn.closed:  # closed by its user (the server's side is seen on use)
                        conn = None
            if conn is None:
                conn = self._open()
            try:
                yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                conn.close()  # broken, or in an unknown state: never handed out again
                raise
            finally:
                if not conn.closed:
                    self._give_back(conn)  # after any other error too (a 404 raised inside)
                conn = None
        finally:
            if conn is not None and not conn.closed:
                conn.close()
            self._slots.release()

    def idle(self) -> int:
        """Connections open and waiting to be used."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _open(self) -> psycopg2.extensions.connection:
        conn = self._connect()
        try:
            conn.set_session(readonly=self._readonly, autocommit=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def _give_back(self, conn: psycopg2.extensions.connection) -> None:
        usable = not conn.closed and conn.status == psycopg2.extensions.STATUS_READY
        if usable and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            usable = False  # a transaction left open (BEGIN sent by hand): never reuse it
        with self._lock:
            if usable and not self._closed:
                self._idle.append(conn)
                return
        conn.close()
