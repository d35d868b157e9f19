"""Who is calling: roles, the authenticated principal, and the authentication failure.

A principal is an id (``agent:maria``, ``customer:00042``, ``integration:mail``) and the roles
of design section 8. A ``customer`` principal *is* a customer: its ``customer_id`` is the actor
id written into the envelope (``customer:<id>``), so the customer role is never combined with
another role (a person who works here and is also a customer uses two identities).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

MAX_PRINCIPAL_ID = 200
"""Longest principal id (the same limit as an actor id)."""
CUSTOMER_PREFIX = "customer:"
"""Every customer id (and so every customer actor id) starts with this."""
_ID = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces


class Role(StrEnum):
    """The roles of design section 8; a principal may hold several."""

    CUSTOMER = "customer"
    AGENT = "agent"
    LEAD = "lead"
    INTEGRATION = "integration"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMIN = "admin"


class Reason(StrEnum):
    """Why authentication failed (``AuthenticationError.reason``); each one is a 401."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    BAD_SIGNATURE = "bad_signature"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    UNKNOWN_KEY = "unknown_key"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIMS = "invalid_claims"
    UNKNOWN_TOKEN = "unknown_token"
    REVOKED = "revoked"
    UNAVAILABLE = "unavailable"


class AuthenticationError(Exception):
    """The credentials were missing or not acceptable; ``reason`` says which rule failed.

    The message is safe to show the caller: it never repeats the token.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = str(reason)
        self.message = message or self.reason.replace("_", " ")
        super().__init__(self.message)


class AuthenticationUnavailableError(AuthenticationError):
    """The credentials could not be checked (JWKS or token store unreachable).

    A subclass so that a caller handling only :class:`AuthenticationError` still refuses the
    request; an HTTP layer may answer 503 instead of 401 for it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(Reason.UNAVAILABLE, message)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``customer_id`` is set exactly for ``customer`` principals (it defaults to ``id``); it is the
    customer they are, and the actor id of what they write.
    """

    id: str
    roles: frozenset[Role]
    customer_id: str | None = None
    source: str = "api_token"

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))
        check_principal_id(self.id)
        if Role.CUSTOMER in self.roles:
            if len(self.roles) > 1:
                raise ValueError("the customer role cannot be combined with other roles")
            customer = self.customer_id if self.customer_id is not None else self.id
            check_customer_id(customer)
            object.__setattr__(self, "customer_id", customer)
        elif self.customer_id is not None:
            raise ValueError("customer_id is only for principals with the customer role")

    def has(self, role: Role) -> bool:
        """True when the principal holds ``role``."""
        return role in self.roles

    @property
    def is_customer(self) -> bool:
        """True for a ``customer`` principal."""
        return Role.CUSTOMER in self.roles

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (roles sorted)."""
        return {
            "id": self.id,
            "roles": sorted(r.value for r in self.roles),
            "customer_id": self.customer_id,
            "source": self.source,
        }


def check_principal_id(value: object) -> str:
    """``value`` if it is a usable principal id, else ValueError naming the rule."""
    if not isinstance(value, str) or not value:
        raise ValueError("a principal id must be a non-empty string")
    if len(value) > MAX_PRINCIPAL_ID:
        raise ValueError(f"a principal id must be at most {MAX_PRINCIPAL_ID} characters")
    if not _ID.fullmatch(value):
        raise ValueError(
            f"principal id {value!r}: printable ASCII without spaces only (e.g. agent:maria)"
        )
    return value


def check_customer_id(value: object) -> str:
    """``value`` if it is a customer id (a principal id starting ``customer:``)."""
    text = check_principal_id(value)
    if not text.startswith(CUSTOMER_PREFIX) or len(text) == len(CUSTOMER_PREFIX):
        raise ValueError(f"customer id {text!r} must look like customer:<id>")
    return text


def parse_role(value: str) -> Role:
    """The role named ``value`` (case-insensitive), or ValueError listing the roles."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r} (one of {names})") from None


def known_roles(values: Iterable[object]) -> frozenset[Role]:
    """The known roles among ``values`` (strings); unknown names and non-strings are ignored.

    For identity providers, whose role claims often hold roles meant for other applications.
    """
    found: set[Role] = set()
    for value in values:
        if isinstance(value, str):
            try:
                found.add(Role(value))
            except ValueError:
                continue
    return frozenset(found)
