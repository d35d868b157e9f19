"""Console sessions in ``auth.console_sessions`` (migration 0015): a cookie secret in, a
signed-in principal out.

The cookie holds 32 random bytes (URL-safe base64); the table keeps only their SHA-256, so a
copy of the table signs nobody in. Each session has its own CSRF token (synchronizer token:
every form and console POST carries it). A session ends at sign-out (its row is deleted), at its
expiry (the sign-in plus the TTL, never after the credential's own expiry), or when the API
token it signed in with is revoked or expires (checked on every lookup).

Every function takes an open psycopg2 connection (the API's pool: read-only autocommit
sessions), writing in a ``BEGIN READ WRITE`` transaction of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.extensions

from supportes.auth.authenticator import Credential
from supportes.auth.principal import Principal, Role
from supportes.db.transactions import read_write

SECRET_BYTES = 32


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: who, its CSRF token, until when."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    """A session just made: ``secret`` goes in the cookie and is never stored."""

    secret: str
    session: ConsoleSession


def new_secret() -> str:
    """32 random bytes, URL-safe base64 without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()


def digest(secret: str) -> bytes:
    """What the table keeps of a cookie secret: its SHA-256."""
    return hashlib.sha256(secret.encode()).digest()


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token with the session's."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def create_session(
    conn: psycopg2.extensions.connection, credential: Credential, ttl: timedelta, now: datetime
) -> NewSession:
    """A session for ``credential``'s principal lasting ``ttl`` (or to the credential's own
    expiry, whichever is first); expired sessions are swept on the way."""
    expires_at = now + ttl
    if credential.expires_at is not None:
        expires_at = min(expires_at, credential.expires_at)
    secret, csrf = new_secret(), new_secret()
    principal = credential.principal
    with read_write(conn) as cur:
        cur.execute("DELETE FROM auth.console_sessions WHERE expires_at <= %s", (now,))
        cur.execute(
            "INSERT INTO auth.console_sessions (session_sha256, principal_id, roles, source,"
            " token_id, csrf_token, created_at, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                digest(secret),
                principal.id,
                sorted(r.value for r in principal.roles),
                principal.source,
                credential.token_id,
                csrf,
                now,
                expires_at,
            ),
        )
    return NewSession(secret, ConsoleSession(principal, csrf, expires_at))


LOOKUP = (
    "SELECT s.principal_id, s.roles, s.source, s.csrf_token, s.expires_at"
    " FROM auth.console_sessions s LEFT JOIN auth.api_tokens t ON t.token_id = s.token_id"
    " WHERE s.session_sha256 = %s AND s.expires_at > %s"
    " AND (s.token_id IS NULL OR (t.token_id IS NOT NULL AND t.revoked_at IS NULL"
    "      AND (t.expires_at IS NULL OR t.expires_at > %s)))"
)


def find_session(
    conn: psycopg2.extensions.connection, secret: str | None, now: datetime
) -> ConsoleSession | None:
    """The live session of a cookie secret, or None (no cookie, unknown, expired, signed out,
    or its API token revoked or expired)."""
    if not secret or len(secret) > 100:
        return None
    with conn.cursor() as cur:
        cur.execute(LOOKUP, (digest(secret), now, now))
        row = cur.fetchone()
        names = [column.name for column in cur.description or ()]
    return None if row is None else session_from_row(dict(zip(names, row, strict=True)))


def session_from_row(row: Mapping[str, Any]) -> ConsoleSession:
    """A session from a :data:`LOOKUP` row."""
    principal = Principal(
        str(row["principal_id"]),
        frozenset(Role(r) for r in row["roles"]),
        source=str(row["source"]),
    )
    return ConsoleSession(principal, str(row["csrf_token"]), row["expires_at"])


def end_session(conn: psycopg2.extensions.connection, secret: str | None) -> bool:
    """Delete the session of a cookie secret (sign-out); True when there was one."""
    if not secret or len(secret) > 100:
        return False
    with read_write(conn) as cur:
        cur.execute(
            "DELETE FROM auth.console_sessions WHERE session_sha256 = %s", (digest(secret),)
        )
        return bool(cur.rowcount)
