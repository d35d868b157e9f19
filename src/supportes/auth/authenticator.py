"""From an ``Authorization`` header to a :class:`~supportes.auth.principal.Principal`.

``Bearer spt_...`` is an API token (checked in PostgreSQL); any other bearer token is an OIDC
access token when OIDC is configured (``SUPPORTES_OIDC_ISSUER``, ``_AUDIENCE``, ``_JWKS_URL``),
and malformed otherwise. No HTTP framework here: the API maps :class:`AuthenticationError` to
401 (and may map :class:`AuthenticationUnavailableError` to 503).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions

from supportes.auth.api_tokens import looks_like_api_token, verify_token
from supportes.auth.oidc import OidcVerifier
from supportes.auth.principal import (
    AuthenticationError,
    AuthenticationUnavailableError,
    Principal,
    Reason,
)
from supportes.db.connect import connect as pg_connect
from supportes.errors import ConfigError
from supportes.settings import PgComponent, Settings

Connect = Callable[[], psycopg2.extensions.connection]
MAX_HEADER_CHARS = 16_384
_IDLE_CONNECTIONS = 8


def oidc_configured(settings: Settings) -> bool:
    """True when issuer, audience and JWKS URL are all set (ConfigError when only some are)."""
    values = {
        "SUPPORTES_OIDC_ISSUER": settings.oidc_issuer,
        "SUPPORTES_OIDC_AUDIENCE": settings.oidc_audience,
        "SUPPORTES_OIDC_JWKS_URL": settings.oidc_jwks_url,
    }
    present = {name for name, value in values.items() if value and value.strip()}
    if present and len(present) < len(values):
        missing = ", ".join(sorted(set(values) - present))
        raise ConfigError(f"OIDC is half configured: set {missing} too (or unset all three)")
    return bool(present)


def verifier_from_settings(settings: Settings) -> OidcVerifier | None:
    """The OIDC verifier the settings describe, or None when OIDC is not configured."""
    if not oidc_configured(settings):
        return None
    return OidcVerifier(
        issuer=str(settings.oidc_issuer).strip(),
        audience=str(settings.oidc_audience).strip(),
        jwks_url=str(settings.oidc_jwks_url).strip(),
        algorithms=settings.oidc_algorithms,
        roles_claim=settings.oidc_roles_claim,
        leeway_s=settings.oidc_leeway_s,
        jwks_cache_s=settings.oidc_jwks_cache_s,
        jwks_cooldown_s=settings.oidc_jwks_cooldown_s,
        jwks_timeout_s=settings.oidc_jwks_timeout_s,
    )


def bearer_token(authorization_header: str | None) -> str:
    """The token of ``Bearer <token>``; AuthenticationError ``missing`` or ``malformed``."""
    if authorization_header is None or not authorization_header.strip():
        raise AuthenticationError(Reason.MISSING, "no bearer token (Authorization header)")
    if len(authorization_header) > MAX_HEADER_CHARS:
        raise AuthenticationError(Reason.MALFORMED, "Authorization header too long")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationError(Reason.MALFORMED, "expected 'Authorization: Bearer <token>'")
    return token


class Authenticator:
    """Authenticates bearer tokens; thread-safe. Keeps a few idle PostgreSQL connections.

    ``connect`` opens a connection to the database holding ``auth.api_tokens`` (default: the
    settings' DSN); connections are reused, and dropped when they fail.
    """

    def __init__(
        self,
        settings: Settings,
        connect: Connect | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._connect: Connect = connect or (
            lambda: pg_connect(
                settings.dsn_for(PgComponent.API), timeout_s=settings.connect_timeout_s
            )
        )
        self._clock = clock
        self.oidc = verifier_from_settings(settings)
        self._idle: queue.LifoQueue[psycopg2.extensions.connection] = queue.LifoQueue()

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The principal behind an ``Authorization`` header, or AuthenticationError."""
        return self.authenticate_token(bearer_token(authorization_header))

    def authenticate_token(self, token: str) -> Principal:
        """The principal of a bearer token (without the ``Bearer`` scheme)."""
        if looks_like_api_token(token):
            return self._api_token(token)
        if self.oidc is None:
            raise AuthenticationError(
                Reason.MALFORMED, "not an API token (spt_...), and OIDC is not configured"
            )
        return self.oidc.verify(token)

    def close(self) -> None:
        """Close the idle connections."""
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            conn.close()

    def _api_token(self, secret: str) -> Principal:
        for attempt in (1, 2):  # a pooled connection may have died since its last use
            try:
                conn = self._take()
            except ConfigError as exc:
                raise AuthenticationUnavailableError(f"token store unreachable: {exc}") from None
            try:
                principal = verify_token(conn, secret, self._clock())
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                conn.close()
                if attempt == 2:
                    raise AuthenticationUnavailableError(
                        f"token store unreachable: {exc}"
                    ) from None
                continue
            except BaseException:
                self._give_back(conn)
                raise
            self._give_back(conn)
            return principal
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> psycopg2.extensions.connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
            conn.autocommit = False
            return conn

    def _give_back(self, conn: psycopg2.extensions.connection) -> None:
        if conn.closed or self._idle.qsize() >= _IDLE_CONNECTIONS:
            conn.close()
        else:
            self._idle.put(conn)
