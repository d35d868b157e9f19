"""Opening PostgreSQL connections with errors that name the setting, never a stack trace."""

from __future__ import annotations

import re

import psycopg2
import psycopg2.extensions

from supportes.errors import ConfigError, DatabaseUnavailableError
from supportes.settings import PgComponent, Settings

_PASSWORD_IN_URI = re.compile(r"(://[^:/@]+:)[^@]*@")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (safe to print)."""
    return _PASSWORD_KV.sub(r"\1***", _PASSWORD_IN_URI.sub(r"\1***@", dsn))


def connect(
    dsn: str, *, timeout_s: float = 10.0, setting: str = "SUPPORTES_PG_DSN"
) -> psycopg2.extensions.connection:
    """Connect to PostgreSQL, or raise ConfigError naming ``setting`` and the cause in one line."""
    try:
        return psycopg2.connect(dsn, connect_timeout=max(1, int(timeout_s)))
    except psycopg2.ProgrammingError as exc:  # malformed DSN
        raise ConfigError(f"{setting} is not a valid PostgreSQL DSN ({first_line(exc)})") from None
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)} ({setting}): {first_line(exc)}"
        ) from None


def connect_as(
    settings: Settings, component: PgComponent, *, timeout_s: float | None = None
) -> psycopg2.extensions.connection:
    """:func:`connect` with ``component``'s DSN (:meth:`Settings.dsn_for`); errors name the
    setting it came from."""
    return connect(
        settings.dsn_for(component),
        timeout_s=settings.connect_timeout_s if timeout_s is None else timeout_s,
        setting=settings.dsn_source(component),
    )


def first_line(exc: BaseException) -> str:
    """The first line of an error message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
