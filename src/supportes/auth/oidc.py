"""OIDC access tokens: JWTs checked against the issuer's JWKS (PyJWT and its ``PyJWKClient``).

Checks, in order: the token parses (``malformed``); its header ``alg`` is one of the pinned
asymmetric algorithms (``algorithm_not_allowed``: ``none`` and the HMAC ``HS*`` family never are,
whatever the configuration says, so a token "signed" with the public key as an HMAC secret is
refused before any key is looked at); its ``kid`` names a key of the JWKS (``unknown_key``, after
one refetch of the JWKS); the signature (``bad_signature``); then ``exp`` (required,
``expired``), ``nbf`` (``not_yet_valid``), ``iss`` (``wrong_issuer``), ``aud``
(``wrong_audience``), each with a small leeway; ``sub`` is required (``missing_claim``).

The principal is ``sub``, so an identity provider should issue subjects such as ``agent:maria``.
Roles come from the configured claim (a list of strings; a dotted name such as
``realm_access.roles`` reaches into objects); unknown roles are ignored. A customer's token also
carries ``customer_id`` (``customer:<id>``), the customer it is.

Keys: the JWK set is cached for ``jwks_cache_s``; a token whose ``kid`` is not in it makes the
client refetch the set once (not more often than every ``jwks_cooldown_s``, so a flood of
made-up kids cannot hammer the identity provider), which is how a rotated key is picked up.
PyJWT's per-kid LRU cache (``cache_keys``) is deliberately off: it never expires, so a key the
provider withdrew would stay trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

from supportes.auth.principal import (
    AuthenticationError,
    AuthenticationUnavailableError,
    Principal,
    Reason,
    Role,
    known_roles,
)
from supportes.errors import ConfigError

ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
"""The only algorithms ever accepted (never ``none`` or ``HS*``)."""
CUSTOMER_CLAIM = "customer_id"
MAX_TOKEN_CHARS = 16_384


def pinned_algorithms(configured: str | Iterable[str]) -> tuple[str, ...]:
    """The asymmetric algorithms of a comma-separated list (or an iterable).

    Raises ConfigError (naming ``SUPPORTES_OIDC_ALGORITHMS``) for an unknown name, a symmetric
    one or ``none``, or an empty list.
    """
    names = configured.split(",") if isinstance(configured, str) else list(configured)
    picked: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in ASYMMETRIC_ALGORITHMS:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise ConfigError(
                f"SUPPORTES_OIDC_ALGORITHMS: {name!r} is not accepted (asymmetric only: {allowed})"
            )
        if name not in picked:
            picked.append(name)
    if not picked:
        raise ConfigError("SUPPORTES_OIDC_ALGORITHMS: name at least one algorithm")
    return tuple(picked)


class OidcVerifier:
    """Verifies OIDC access tokens of one issuer and audience; thread-safe."""

    def __init__(  # noqa: PLR0917 - the positional order of the shared interface
        self,
        issuer: str,
        audience: str,
        jwks_url: str,
        algorithms: str | Sequence[str] = ("RS256", "ES256", "PS256", "EdDSA"),
        roles_claim: str = "roles",
        leeway_s: float = 30.0,
        *,
        jwks_cache_s: float = 300.0,
        jwks_cooldown_s: float = 10.0,
        jwks_timeout_s: float = 5.0,
    ) -> None:
        if not issuer or not audience or not jwks_url:
            raise ConfigError(
                "SUPPORTES_OIDC_ISSUER, SUPPORTES_OIDC_AUDIENCE and SUPPORTES_OIDC_JWKS_URL "
                "must all be set"
            )
        self.issuer = issuer
        self.audience = audience
        self.algorithms = pinned_algorithms(algorithms)
        self.roles_claim = roles_claim
        self.leeway_s = leeway_s
        try:
            self.jwks = PyJWKClient(
                jwks_url,
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=jwks_cache_s,
                timeout=jwks_timeout_s,
                cooldown_duration=jwks_cooldown_s,
            )
        except PyJWKClientError as exc:
            raise ConfigError(f"SUPPORTES_OIDC_JWKS_URL: {exc}") from None

    def verify(self, token: str) -> Principal:
        """The principal of a valid access token, or :class:`AuthenticationError`."""
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, datetime]:
        """The principal of a valid access token and the instant it expires (``exp``)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError(Reason.MALFORMED, "malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthenticationError(Reason.MALFORMED, "malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthenticationError(
                Reason.ALGORITHM_NOT_ALLOWED,
                f"token algorithm {alg!r} is not accepted ({', '.join(self.algorithms)})",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError(Reason.UNKNOWN_KEY, "token names no signing key (kid)")
        try:
            key = self.jwks.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            raise AuthenticationUnavailableError(f"cannot fetch the JWKS: {exc}") from None
        except PyJWKClientError:
            raise AuthenticationError(
                Reason.UNKNOWN_KEY, f"no signing key {kid!r} in the issuer's JWKS"
            ) from None
        except jwt.InvalidTokenError as exc:  # PyJWKSetError: the JWKS itself is unusable
            raise AuthenticationUnavailableError(f"unusable JWKS: {exc}") from None
        claims = self._decode(token, key)
        expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
        return principal_from_claims(claims, self.roles_claim), expires_at

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_iss": True,
                    "verify_aud": True,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError(Reason.EXPIRED, "token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError(Reason.NOT_YET_VALID, "token is not yet valid") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(Reason.WRONG_ISSUER, "token has the wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                Reason.WRONG_AUDIENCE, "token is not meant for this API (aud)"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(
                Reason.MISSING_CLAIM, f"token lacks the {exc.claim!r} claim"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError(Reason.BAD_SIGNATURE, "bad token signature") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                Reason.ALGORITHM_NOT_ALLOWED, "token algorithm does not match its key"
            ) from None
        except jwt.InvalidTokenError:
            raise AuthenticationError(Reason.MALFORMED, "malformed token") from None
        return claims


def principal_from_claims(claims: Mapping[str, Any], roles_claim: str = "roles") -> Principal:
    """The principal of verified claims: ``sub``, the roles claim, ``customer_id``.

    Raises :class:`AuthenticationError` (``invalid_claims``) when they do not make a principal
    (a ``sub`` that is not a usable id, a customer without a valid ``customer_id``, the
    customer role mixed with others).
    """
    subject = claims.get("sub")
    raw_roles = _claim(claims, roles_claim)
    roles = known_roles(raw_roles) if isinstance(raw_roles, list) else frozenset[Role]()
    customer = claims.get(CUSTOMER_CLAIM) if Role.CUSTOMER in roles else None
    if Role.CUSTOMER in roles and not isinstance(customer, str):
        raise AuthenticationError(
            Reason.INVALID_CLAIMS, f"a customer's token needs a {CUSTOMER_CLAIM!r} claim"
        )
    try:
        return Principal(
            id=subject,  # type: ignore[arg-type]  # checked by Principal
            roles=roles,
            customer_id=customer,
            source="oidc",
        )
    except ValueError as exc:
        raise AuthenticationError(Reason.INVALID_CLAIMS, f"token claims: {exc}") from None


def _claim(claims: Mapping[str, Any], name: str) -> object:
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
