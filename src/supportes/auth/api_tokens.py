"""API tokens: bearer secrets kept in ``auth.api_tokens`` (migration 0007) as SHA-256 digests.

A secret is ``spt_<token_id>_<43 characters>``: the prefix tells it from a JWT, ``token_id``
(16 hex digits, public: ``tokens list`` and ``revoke`` use it) finds the row, and the rest is 32
bytes from :func:`secrets.token_bytes`, URL-safe base64.

Why a fast hash is right here: slow password hashes (bcrypt, scrypt, Argon2) exist because
passwords are guessable, so each guess must be made expensive. A 256-bit random secret cannot be
guessed: a stolen table of SHA-256 digests leaves 2^256 candidates per token, out of reach at any
hashing speed, so the extra cost of a slow hash would buy nothing and be paid on every request.
SHA-256 is preimage resistant, which is all the digest must be. The digest of the presented
secret is compared to the stored one with :func:`hmac.compare_digest` (constant time); the row is
found by ``token_id``, not by the digest, so nothing secret-dependent steers the lookup.

Every function takes an open psycopg2 connection and runs in its own transaction (committed;
a transaction the caller had open is committed with it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2.errors
import psycopg2.extensions

from supportes.auth.principal import (
    AuthenticationError,
    Principal,
    Reason,
    Role,
    check_customer_id,
    known_roles,
    parse_role,
)
from supportes.db.transactions import read_write

PREFIX = "spt_"
"""Every API token secret starts with this."""
_SECRET = re.compile(r"^spt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is updated at most this often (a write per request would be wasteful)."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is shown once and never stored."""

    token_id: str
    secret: str
    principal: Principal
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """What ``tokens list`` shows about a token (never its secret)."""

    token_id: str
    principal_id: str
    roles: tuple[str, ...]
    customer_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self, now: datetime) -> dict[str, object]:
        """JSON-ready form, with ``status`` at ``now``."""
        return {
            "token_id": self.token_id,
            "principal_id": self.principal_id,
            "roles": list(self.roles),
            "customer_id": self.customer_id,
            "status": self.status(now),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


def digest(secret: str) -> bytes:
    """SHA-256 of the whole secret (what the table stores)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def looks_like_api_token(token: str) -> bool:
    """True when ``token`` has the API token prefix (it may still be malformed)."""
    return token.startswith(PREFIX)


def create_token(
    conn: psycopg2.extensions.connection,
    principal_id: str,
    roles: Iterable[Role | str],
    customer_id: str | None = None,
    expires_at: datetime | None = None,
    *,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token for a principal; the returned secret is the only copy.

    Raises ValueError for an invalid principal id, an unknown role, no role, a customer role
    mixed with others, or an ``expires_at`` not after now.
    """
    role_set = frozenset(parse_role(r) for r in roles)
    if not role_set:
        raise ValueError("a token needs at least one role")
    if customer_id is not None:
        check_customer_id(customer_id)
    principal = Principal(id=principal_id, roles=role_set, customer_id=customer_id)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    if expires_at is not None and expires_at <= created:
        raise ValueError("the expiry must lie in the future")
    token_id = secrets.token_hex(8)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with _transaction(conn) as cur:
        cur.execute(
            "INSERT INTO auth.api_tokens (token_id, principal_id, roles, customer_id,"
            " secret_sha256, created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                token_id,
                principal.id,
                sorted(r.value for r in principal.roles),
                principal.customer_id,
                digest(secret),
                created,
                expires_at,
            ),
        )
    return IssuedToken(token_id, secret, principal, created, expires_at)


def list_tokens(
    conn: psycopg2.extensions.connection, *, token_id: str | None = None
) -> list[TokenInfo]:
    """Every token (or the one ``token_id``), oldest first; no secrets: the table has none."""
    with _transaction(conn) as cur:
        cur.execute(
            "SELECT token_id, principal_id, roles, customer_id, created_at, expires_at,"
            " revoked_at, last_used_at FROM auth.api_tokens"
            " WHERE %(id)s::text IS NULL OR token_id = %(id)s"
            " ORDER BY created_at, token_id",
            {"id": token_id},
        )
        rows = cur.fetchall()
    return [
        TokenInfo(row[0], row[1], tuple(row[2]), row[3], row[4], row[5], row[6], row[7])
        for row in rows
    ]


def token_info(conn: psycopg2.extensions.connection, token_id: str) -> TokenInfo | None:
    """One token by id, or None."""
    return next((t for t in list_tokens(conn, token_id=token_id)), None)


def revoke_token(
    conn: psycopg2.extensions.connection, token_id: str, *, now: datetime | None = None
) -> bool:
    """Revoke a token; False when there is no such token or it was already revoked."""
    with _transaction(conn) as cur:
        cur.execute(
            "UPDATE auth.api_tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL",
            ((now or datetime.now(UTC)), token_id),
        )
        return bool(cur.rowcount)


@dataclass(frozen=True)
class VerifiedToken:
    """A secret found valid: whose it is, and until when."""

    token_id: str
    principal: Principal
    expires_at: datetime | None


def verify_token(
    conn: psycopg2.extensions.connection, secret: str, now: datetime, *, touch: bool = True
) -> Principal:
    """The principal of a valid secret, or :class:`AuthenticationError` (:func:`check_token`)."""
    return check_token(conn, secret, now, touch=touch).principal


def check_token(
    conn: psycopg2.extensions.connection, secret: str, now: datetime, *, touch: bool = True
) -> VerifiedToken:
    """The token of a valid secret, or :class:`AuthenticationError`.

    Reasons: ``malformed`` (not ``spt_<16 hex>_<43 base64url>``), ``unknown_token`` (no such
    token id, or the secret does not match it), ``revoked``, ``expired`` (``expires_at`` at or
    before ``now``). Status is told only to a caller holding the real secret. With ``touch``,
    ``last_used_at`` is updated (at most once per :data:`TOUCH_EVERY`; skipped when the
    connection may not write; on an autocommit connection in a read-write transaction of its
    own, so a read-only session may still record the use).
    """
    match = _SECRET.match(secret)
    if match is None:
        raise AuthenticationError(Reason.MALFORMED, "malformed API token")
    token_id = match.group(1)
    with _transaction(conn) as cur:
        cur.execute(
            "SELECT principal_id, roles, customer_id, secret_sha256, expires_at, revoked_at,"
            " last_used_at FROM auth.api_tokens WHERE token_id = %s",
            (token_id,),
        )
        row = cur.fetchone()
    # Compare even when the row is missing, so both paths take the same time.
    stored = bytes(row[3]) if row is not None else b"\0" * 32
    if not hmac.compare_digest(stored, digest(secret)) or row is None:
        raise AuthenticationError(Reason.UNKNOWN_TOKEN, "unknown API token")
    principal_id, roles, customer_id, _, expires_at, revoked_at, last_used_at = row
    if revoked_at is not None:
        raise AuthenticationError(Reason.REVOKED, f"API token {token_id} was revoked")
    if expires_at is not None and expires_at <= now:
        raise AuthenticationError(Reason.EXPIRED, f"API token {token_id} has expired")
    try:
        principal = Principal(
            id=principal_id, roles=known_roles(roles), customer_id=customer_id, source="api_token"
        )
    except ValueError as exc:  # a row edited by hand into something invalid
        raise AuthenticationError(Reason.INVALID_CLAIMS, f"API token {token_id}: {exc}") from None
    if touch and (last_used_at is None or last_used_at <= now - TOUCH_EVERY):
        _touch(conn, token_id, now)
    return VerifiedToken(token_id, principal, expires_at)


def _touch(conn: psycopg2.extensions.connection, token_id: str, now: datetime) -> None:
    update = "UPDATE auth.api_tokens SET last_used_at = %s WHERE token_id = %s"
    try:
        if conn.autocommit:
            _touch_in_own_transaction(conn, update, (now, token_id))
        else:
            with _transaction(conn) as cur:
                cur.execute(update, (now, token_id))
    except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.ReadOnlySqlTransaction):
        pass  # a connection that may not write authenticates all the same


def _touch_in_own_transaction(
    conn: psycopg2.extensions.connection, update: str, params: tuple[object, ...]
) -> None:
    """``update`` in ``BEGIN READ WRITE``: overrides a read-only session's default."""
    with read_write(conn) as cur:
        cur.execute(update, params)


@contextmanager
def _transaction(
    conn: psycopg2.extensions.connection,
) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor in a transaction committed on success, rolled back on an error.

    Not ``with conn``: that cannot be entered by a caller already inside one.
    """
    try:
        with conn.cursor() as cur:
            yield cur
        if not conn.autocommit:
            conn.commit()
    except BaseException:
        if not conn.autocommit and not conn.closed:
            conn.rollback()
        raise


def parse_expiry(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` from ``now``, or an ISO 8601 instant.

    Raises ValueError naming the accepted forms.
    """
    value = text.strip()
    match = re.fullmatch(r"(\d{1,6})\s*([smhdw])", value.lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit]
        if amount == 0:
            raise ValueError("the expiry must lie in the future")
        return now + timedelta(seconds=amount * seconds)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"malformed expiry {text!r} (a duration such as 30d, 12h, 90m, or an ISO 8601 "
            "time such as 2027-01-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
