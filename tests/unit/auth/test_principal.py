"""Principals, roles, claims and bearer headers: what is accepted and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supportes.auth.api_tokens import looks_like_api_token, parse_expiry
from supportes.auth.authenticator import Authenticator, bearer_token, oidc_configured
from supportes.auth.oidc import pinned_algorithms, principal_from_claims
from supportes.auth.policy import actor_of
from supportes.auth.principal import (
    AuthenticationError,
    Principal,
    Reason,
    Role,
    known_roles,
    parse_role,
)
from supportes.errors import ConfigError
from supportes.settings import Settings

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_a_customer_is_its_customer_id() -> None:
    customer = Principal("customer:00042", frozenset({Role.CUSTOMER}))
    assert customer.customer_id == "customer:00042"
    assert customer.is_customer
    assert actor_of(customer).as_dict() == {"id": "customer:00042", "kind": "customer"}
    portal_user = Principal("idp-user-7", frozenset({Role.CUSTOMER}), customer_id="customer:7")
    assert actor_of(portal_user).id == "customer:7"
    agent = Principal("agent:maria", frozenset({"agent"}))  # type: ignore[arg-type]
    assert agent.roles == {Role.AGENT}
    assert agent.has(Role.AGENT)
    assert not agent.has(Role.LEAD)
    assert actor_of(agent).as_dict() == {"id": "agent:maria", "kind": "agent"}
    assert agent.as_dict() == {
        "id": "agent:maria",
        "roles": ["agent"],
        "customer_id": None,
        "source": "api_token",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "", "roles": frozenset({Role.AGENT})}, "non-empty"),
        ({"id": "agent: maria", "roles": frozenset({Role.AGENT})}, "printable"),
        ({"id": "agent:maria\n", "roles": frozenset({Role.AGENT})}, "printable"),
        ({"id": "agent:" + "m" * 200, "roles": frozenset({Role.AGENT})}, "at most 200"),
        ({"id": "agent:maria", "roles": frozenset({"wizard"})}, "wizard"),
        ({"id": "c", "roles": frozenset({Role.CUSTOMER, Role.AGENT})}, "cannot be combined"),
        ({"id": "agent:x", "roles": frozenset({Role.AGENT}), "customer_id": "customer:1"}, "only"),
        ({"id": "00042", "roles": frozenset({Role.CUSTOMER})}, "customer:<id>"),
        ({"id": "x", "roles": frozenset({Role.CUSTOMER}), "customer_id": "customer:"}, "<id>"),
    ],
)
def test_invalid_principals_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Principal(**kwargs)


def test_role_names() -> None:
    assert parse_role(" Lead ") is Role.LEAD
    with pytest.raises(ValueError, match="one of customer, agent"):
        parse_role("root")
    assert known_roles(["agent", "offline_access", 7, None, "auditor"]) == {
        Role.AGENT,
        Role.AUDITOR,
    }


def test_principal_from_claims() -> None:
    principal = principal_from_claims(
        {"sub": "agent:maria", "roles": ["agent", "uma_authorization"]}
    )
    assert principal == Principal("agent:maria", frozenset({Role.AGENT}), source="oidc")
    nested = {"sub": "agent:lea", "realm_access": {"roles": ["lead"]}}
    assert principal_from_claims(nested, "realm_access.roles").roles == {Role.LEAD}
    assert principal_from_claims({"sub": "agent:x", "roles": "agent"}).roles == frozenset()
    assert principal_from_claims({"sub": "agent:x"}).roles == frozenset()
    customer = principal_from_claims(
        {"sub": "f81d4fae", "roles": ["customer"], "customer_id": "customer:00042"}
    )
    assert customer.customer_id == "customer:00042"
    assert customer.source == "oidc"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": 42, "roles": ["agent"]},
        {"sub": "", "roles": ["agent"]},
        {"sub": "u1", "roles": ["customer"]},
        {"sub": "u1", "roles": ["customer"], "customer_id": "00042"},
        {"sub": "u1", "roles": ["customer", "agent"], "customer_id": "customer:1"},
    ],
)
def test_claims_that_make_no_principal(claims: dict[str, Any]) -> None:
    with pytest.raises(AuthenticationError) as caught:
        principal_from_claims(claims)
    assert caught.value.reason == Reason.INVALID_CLAIMS


def test_bearer_headers() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  spt_x ") == "spt_x"
    for header, reason in [
        (None, "missing"),
        ("", "missing"),
        ("  ", "missing"),
        ("Basic dXNlcjpwdw==", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer a b", "malformed"),
        ("Bearer " + "a" * 20_000, "malformed"),
    ]:
        with pytest.raises(AuthenticationError) as caught:
            bearer_token(header)
        assert caught.value.reason == reason, header
    assert looks_like_api_token("spt_0123")
    assert not looks_like_api_token("eyJhbGciOi")


def test_without_oidc_a_jwt_is_malformed() -> None:
    auth = Authenticator(Settings(), connect=lambda: pytest.fail("no database needed"))
    with pytest.raises(AuthenticationError) as caught:
        auth.authenticate("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    assert caught.value.reason == Reason.MALFORMED
    assert "OIDC is not configured" in caught.value.message
    with pytest.raises(AuthenticationError) as caught:
        auth.authenticate(None)
    assert caught.value.reason == Reason.MISSING


def test_oidc_is_configured_with_all_three_settings_or_none() -> None:
    assert not oidc_configured(Settings())
    full = Settings(
        oidc_issuer="https://idp.example", oidc_audience="supportes", oidc_jwks_url="https://j"
    )
    assert oidc_configured(full)
    with pytest.raises(ConfigError, match="SUPPORTES_OIDC_JWKS_URL"):
        oidc_configured(Settings(oidc_issuer="https://idp.example", oidc_audience="supportes"))


def test_only_asymmetric_algorithms_are_pinned() -> None:
    assert pinned_algorithms("RS256, ES256,RS256") == ("RS256", "ES256")
    assert pinned_algorithms(Settings().oidc_algorithms) == ("RS256", "ES256", "PS256", "EdDSA")
    for bad in ("HS256", "RS256,none", "hs512", "", " , "):
        with pytest.raises(ConfigError, match="SUPPORTES_OIDC_ALGORITHMS"):
            pinned_algorithms(bad)


def test_expiry_forms() -> None:
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("90m", NOW) == NOW + timedelta(minutes=90)
    assert parse_expiry("2w", NOW) == NOW + timedelta(weeks=2)
    assert parse_expiry("2027-01-01T00:00:00Z", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_expiry("2027-01-01", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("0d", "soon", "-1d", "30 days"):
        with pytest.raises(ValueError, match="expiry"):
            parse_expiry(bad, NOW)
