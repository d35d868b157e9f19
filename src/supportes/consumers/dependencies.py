"""Riding out dependency outages: which failures are transient, and a stop-aware back-off.

A lost PostgreSQL connection, an unreachable or paused broker, a request that timed out: each
is *transient*. The writer and the projector abort or roll back what they hold, wait with
:class:`Backoff` (bounded, jittered, logged with the dependency and the next attempt) and go on
for as long as the outage lasts. Any wait returns at once when the service is asked to stop
(:class:`Stopping`), so SIGTERM during a retry ends ``serve`` within its graceful-stop bound.
What each role is waiting for is published in :data:`HEALTH` (``stack status`` reads it).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.extensions
from kafka.errors import KafkaError

from supportes.errors import DatabaseUnavailableError
from supportes.logs import get_logger
from supportes.messaging.guard import CallTimedOutError

log = get_logger("dependencies")

POSTGRESQL = "postgresql"
KAFKA = "kafka"


class Stopping(Exception):  # noqa: N818 - a request, not an error
    """The service was asked to stop while it waited for a dependency."""


def dependency_of(exc: BaseException) -> str | None:
    """``postgresql`` or ``kafka`` when ``exc`` is a transient failure of that dependency."""
    if isinstance(exc, psycopg2.InterfaceError | DatabaseUnavailableError) or _pg_transient(exc):
        return POSTGRESQL
    if isinstance(exc, CallTimedOutError | TimeoutError | ConnectionError):
        return KAFKA
    if isinstance(exc, KafkaError) and (
        exc.retriable or type(exc).__name__ in _TRANSIENT_KAFKA or _names_transient(exc)
    ):
        return KAFKA
    cause = exc.__cause__  # explicit chaining only: a bug raised while handling an outage is a bug
    return dependency_of(cause) if cause is not None and cause is not exc else None


_PG_TRANSIENT_CODES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, recovering)
        "53300",  # too_many_connections
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)


def _pg_transient(exc: BaseException) -> bool:
    """A PostgreSQL error that says the server (or the connection to it) is away, not that the
    statement is wrong: no SQLSTATE (libpq lost the connection), class 08, a shutdown or
    start-up, too many connections, a serialization failure or deadlock. A cancelled query is
    transient only for a statement timeout: COPY cancels itself when the client cannot encode a
    row, which is the data's fault (it must be parked, not retried for ever)."""
    if isinstance(exc, psycopg2.extensions.QueryCanceledError):
        return "statement timeout" in str(exc)
    if not isinstance(exc, psycopg2.OperationalError):
        return False
    code = exc.pgcode
    return code is None or code.startswith("08") or code in _PG_TRANSIENT_CODES


_TRANSIENT_KAFKA = frozenset(
    {
        "KafkaConnectionError",
        "NoBrokersAvailable",
        "KafkaTimeoutError",
        "NodeNotReadyError",
        "RequestTimedOutError",
        "NotLeaderForPartitionError",
        "LeaderNotAvailableError",
        "CoordinatorNotAvailableError",
        "NotCoordinatorError",
        "CoordinatorLoadInProgressError",
        "UnknownTopicOrPartitionError",
        "StaleMetadata",
    }
)


def _names_transient(exc: KafkaError) -> bool:
    """kafka-python re-raises some failures as a plain KafkaError naming the original."""
    text = str(exc)
    return any(name in text for name in _TRANSIENT_KAFKA)


@dataclass
class RoleHealth:
    """What one role of a process is doing: ``running``, or ``waiting`` for a dependency."""

    state: str = "starting"
    dependency: str | None = None
    error: str | None = None
    since: str | None = None
    next_attempt_at: str | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)


class Health:
    """Per-role health of this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, RoleHealth] = {}

    def running(self, role: str) -> None:
        """``role`` works normally."""
        with self._lock:
            current = self._roles.get(role)
            if current is None or current.state != "running":
                self._roles[role] = RoleHealth("running", since=_now())

    def waiting(self, role: str, dependency: str, error: str, next_attempt_at: str) -> None:
        """``role`` waits for ``dependency`` until ``next_attempt_at``."""
        with self._lock:
            current = self._roles.get(role)
            since = current.since if current and current.state == "waiting" else _now()
            attempts = current.attempts + 1 if current and current.state == "waiting" else 1
            self._roles[role] = RoleHealth(
                "waiting", dependency, error, since, next_attempt_at, attempts
            )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every role's health, as JSON-friendly dicts."""
        with self._lock:
            return {role: health.as_dict() for role, health in self._roles.items()}


HEALTH = Health()
"""This process's roles (writer, projector)."""


class Backoff:
    """Bounded, jittered exponential waits between attempts, cut short by ``stop``."""

    def __init__(
        self,
        role: str,
        stop: threading.Event | None = None,
        *,
        first_s: float = 0.5,
        max_s: float = 10.0,
    ) -> None:
        self.role = role
        self.stop = stop or threading.Event()
        self.first_s = first_s
        self.max_s = max_s
        self._next = first_s

    def wait(self, dependency: str, exc: BaseException, **context: Any) -> None:
        """Log the failure and wait before the next attempt; :class:`Stopping` if asked to stop
        (before or during the wait)."""
        if self.stop.is_set():
            raise Stopping
        delay = min(self._next, self.max_s) * random.uniform(0.8, 1.2)
        self._next = min(self._next * 2, self.max_s)
        next_at = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat(timespec="seconds")
        error = first_line(exc)
        HEALTH.waiting(self.role, dependency, error, next_at)
        log.warning(
            "waiting for a dependency",
            role=self.role,
            dependency=dependency,
            retry_in_s=round(delay, 2),
            next_attempt_at=next_at,
            error=error,
            **context,
        )
        if self.stop.wait(delay):
            raise Stopping

    def succeeded(self) -> None:
        """The dependency answered: the next failure waits the first delay again."""
        self._next = self.first_s
        HEALTH.running(self.role)

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless asked to stop (:class:`Stopping`)."""
        if self.stop.wait(seconds):
            raise Stopping


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
