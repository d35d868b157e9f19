"""From an ``Authorization`` header to a :class:`~supportes.auth.principal.Principal`.

``Bearer spt_...`` is an API token (checked in PostgreSQL); any other bearer token is an OIDC
access token when OIDC is configured (``SUPPORTES_OIDC_ISSUER``, ``_AUDIENCE``, ``_JWKS_URL``),
and malformed otherwise. No HTTP framework here: the API maps :class:`AuthenticationError` to
401 (and may map :class:`AuthenticationUnavailableError` to 503).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions

from supportes.auth.api_tokens import VerifiedToken, check_token, looks_like_api_token
from supportes.auth.oidc import OidcVerifier
from supportes.auth.principal import (
    AuthenticationError,
    AuthenticationUnavailableError,
    Principal,
    Reason,
)
from supportes.auth.verified_cache import VerifiedTokenCache
from supportes.db.connect import connect as pg_connect
from supportes.db.pool import ConnectionPool
from supportes.errors import ConfigError
from supportes.settings import PgComponent, Settings

Connect = Callable[[], psycopg2.extensions.connection]
MAX_HEADER_CHARS = 16_384


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


@dataclass(frozen=True)
class Credential:
    """A verified bearer token: whose it is, until when, and which API token (for a console
    session that must end when the token is revoked or expires)."""

    principal: Principal
    expires_at: datetime | None
    token_id: str | None
    """The API token's public id; ``None`` for an OIDC token."""


class Authenticator:
    """Authenticates bearer tokens; thread-safe.

    API tokens are checked in PostgreSQL through ``pool`` (default: a pool of its own to the
    API's DSN; ``connect`` opens its connections instead), and OIDC tokens against the JWKS.
    With a ``cache``, a token verified a moment ago is not verified again
    (:class:`~supportes.auth.verified_cache.VerifiedTokenCache`: :meth:`cached` answers from
    it without any I/O).
    """

    def __init__(
        self,
        settings: Settings,
        connect: Connect | None = None,
        *,
        pool: ConnectionPool | None = None,
        cache: VerifiedTokenCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._owns_pool = pool is None
        self.pool = pool or ConnectionPool(
            settings.dsn_for(PgComponent.API),
            8,
            connect_timeout_s=settings.connect_timeout_s,
            setting=settings.dsn_source(PgComponent.API),
            connect_with=connect,
        )
        self.cache = cache
        self._clock = clock
        self.oidc = verifier_from_settings(settings)

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The principal behind an ``Authorization`` header, or AuthenticationError."""
        return self.authenticate_token(bearer_token(authorization_header))

    def cached(self, authorization_header: str | None) -> Principal | None:
        """The principal of a header whose token was verified a moment ago, or None (then
        call :meth:`authenticate`). No I/O: safe on an event loop."""
        if self.cache is None:
            return None
        try:
            token = bearer_token(authorization_header)
        except AuthenticationError:
            return None
        return self.cache.get(token)

    def authenticate_token(self, token: str) -> Principal:
        """The principal of a bearer token (without the ``Bearer`` scheme)."""
        remembered = self.cache.get(token) if self.cache is not None else None
        if remembered is not None:
            return remembered
        if looks_like_api_token(token):
            return self._api_token(token)
        if self.oidc is None:
            raise AuthenticationError(
                Reason.MALFORMED, "not an API token (spt_...), and OIDC is not configured"
            )
        principal, expires_at = self.oidc.verify_until(token)
        if self.cache is not None:
            self.cache.put_oidc(token, principal, expires_at)
        return principal

    def credential(self, token: str) -> Credential:
        """Verify ``token`` afresh (never from the cache) and say until when it is valid and,
        for an API token, which one: what a console sign-in turns into a session."""
        if looks_like_api_token(token):
            verified = self._check_api_token(token)
            return Credential(verified.principal, verified.expires_at, verified.token_id)
        if self.oidc is None:
            raise AuthenticationError(
                Reason.MALFORMED, "not an API token (spt_...), and OIDC is not configured"
            )
        principal, expires_at = self.oidc.verify_until(token)
        return Credential(principal, expires_at, None)

    def close(self) -> None:
        """Close the pool's idle connections (when the pool is this authenticator's own)."""
        if self._owns_pool:
            self.pool.close()

    def _api_token(self, secret: str) -> Principal:
        epoch = self.cache.epoch() if self.cache is not None else 0
        verified = self._check_api_token(secret)
        if self.cache is not None:
            self.cache.put_api_token(
                secret, verified.token_id, verified.principal, verified.expires_at, epoch
            )
        return verified.principal

    def _check_api_token(self, secret: str) -> VerifiedToken:
        for attempt in (1, 2):  # a pooled connection may have died since its last use
            try:
                with self.pool.connection() as conn:
                    verified = check_token(conn, secret, self._clock())
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if attempt == 2:
                    raise AuthenticationUnavailableError(
                        f"token store unreachable: {exc}"
                    ) from None
                continue
            except ConfigError as exc:  # unreachable, pool exhausted, or a malformed DSN
                raise AuthenticationUnavailableError(f"token store unreachable: {exc}") from None
            return verified
        raise AssertionError("unreachable")  # pragma: no cover


def token_cache(settings: Settings) -> VerifiedTokenCache | None:
    """The verified-token cache the settings ask for (``SUPPORTES_API_TOKEN_CACHE_S``; None
    for 0), its listener started."""
    if settings.api_token_cache_s <= 0:
        return None
    cache = VerifiedTokenCache(
        settings.api_token_cache_s,
        lambda: pg_connect(
            settings.dsn_for(PgComponent.API),
            timeout_s=settings.connect_timeout_s,
            setting=settings.dsn_source(PgComponent.API),
        ),
    )
    cache.start()
    return cache
