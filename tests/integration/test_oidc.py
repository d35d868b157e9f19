"""OIDC access tokens against a real JWKS endpoint: a local HTTP server started by the test.

Keys are generated here; every refusal of design section 8 is one token, and the JWKS cache is
watched through the server's request count (an unknown kid costs exactly one refetch; a rotated
key is picked up).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from supportes.auth.authenticator import Authenticator
from supportes.auth.oidc import OidcVerifier
from supportes.auth.principal import (
    AuthenticationError,
    AuthenticationUnavailableError,
    Principal,
    Reason,
    Role,
)
from supportes.settings import Settings
from tests.support.oidc import AUDIENCE, ISSUER, Idp, b64, claims, serving_idp, sign


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    with serving_idp() as served:
        yield served


def _refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify(token)
    assert len(token) < 8 or token not in caught.value.message  # tokens are never echoed
    return caught.value.reason


def test_a_valid_token_is_accepted(idp: Idp) -> None:
    verifier = idp.verifier()
    principal = verifier.verify(sign(idp.rsa_key, claims()))
    assert principal == Principal("agent:maria", frozenset({Role.AGENT}), source="oidc")
    customer = verifier.verify(
        sign(
            idp.ec_key,
            claims(sub="portal|7", roles=["customer"], customer_id="customer:00042"),
            kid="ec-1",
            alg="ES256",
        )
    )
    assert customer.customer_id == "customer:00042"
    assert customer.roles == {Role.CUSTOMER}


def test_through_the_authenticator(idp: Idp) -> None:
    settings = Settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=idp.url)
    auth = Authenticator(settings, connect=lambda: pytest.fail("no database for a JWT"))
    token = sign(idp.rsa_key, claims(sub="auditor:ann", roles=["auditor"]))
    assert auth.authenticate(f"Bearer {token}").roles == {Role.AUDITOR}
    with pytest.raises(AuthenticationError) as caught:
        auth.authenticate(f"Bearer {token[:-4]}AAAA")
    assert caught.value.reason == Reason.BAD_SIGNATURE


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.@@@.x", "x" * 20_000])
def test_malformed(idp: Idp, token: str) -> None:
    assert _refused(idp.verifier(), token) == Reason.MALFORMED


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (claims(exp=int(time.time()) - 3600), Reason.EXPIRED),
        (claims(nbf=int(time.time()) + 3600), Reason.NOT_YET_VALID),
        (claims(iss="https://evil.test/"), Reason.WRONG_ISSUER),
        (claims(aud="another-api"), Reason.WRONG_AUDIENCE),
        (claims(exp=None), Reason.MISSING_CLAIM),
        (claims(sub=None), Reason.MISSING_CLAIM),
        (claims(iss=None), Reason.MISSING_CLAIM),
        (claims(aud=None), Reason.MISSING_CLAIM),
        (claims(sub="agent maria"), Reason.INVALID_CLAIMS),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-issuer",
        "wrong-audience",
        "no-exp",
        "no-sub",
        "no-iss",
        "no-aud",
        "bad-sub",
    ],
)
def test_claim_refusals(idp: Idp, claims: dict[str, Any], reason: Reason) -> None:
    assert _refused(idp.verifier(), sign(idp.rsa_key, claims)) == reason


def test_leeway_is_small_and_honoured(idp: Idp) -> None:
    now = int(time.time())
    verifier = idp.verifier()  # 5 s
    assert verifier.verify(sign(idp.rsa_key, claims(exp=now - 2)))
    assert verifier.verify(sign(idp.rsa_key, claims(nbf=now + 2)))
    assert _refused(verifier, sign(idp.rsa_key, claims(exp=now - 30))) == Reason.EXPIRED


def test_bad_signature(idp: Idp) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _refused(idp.verifier(), sign(impostor, claims())) == Reason.BAD_SIGNATURE
    token = sign(idp.rsa_key, claims())
    head, _, signature = token.split(".")
    forged_body = b64(json.dumps(claims(roles=["admin"])).encode())
    forged = f"{head}.{forged_body}.{signature}"
    assert _refused(idp.verifier(), forged) == Reason.BAD_SIGNATURE


def test_alg_none_is_refused_without_looking_at_keys(idp: Idp) -> None:
    before = idp.jwks.fetches
    verifier = idp.verifier(algorithms=["RS256", "ES256"])
    unsigned = jwt.encode(claims(roles=["admin"]), "", algorithm="none", headers={"kid": "rsa-1"})
    assert _refused(verifier, unsigned) == Reason.ALGORITHM_NOT_ALLOWED
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims(roles=["admin"])).encode())
    assert _refused(verifier, f"{header}.{body}.") == Reason.ALGORITHM_NOT_ALLOWED
    assert idp.jwks.fetches == before


def test_hs256_signed_with_the_public_key_is_refused(idp: Idp) -> None:
    """The classic key-confusion forgery: the public key's bytes as an HMAC secret."""
    before = idp.jwks.fetches
    public_pem = idp.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims(roles=["admin"])).encode())
    signing_input = f"{header}.{body}".encode()
    for secret in (public_pem, json.dumps(idp.jwks.keys[0]).encode()):
        signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        assert _refused(idp.verifier(), f"{header}.{body}.{signature}") == (
            Reason.ALGORITHM_NOT_ALLOWED
        )
    assert idp.jwks.fetches == before


def test_a_token_whose_alg_differs_from_its_key_is_refused(idp: Idp) -> None:
    # RS384 is pinned, but the key "rsa-1" is published for RS256 only.
    verifier = idp.verifier(algorithms=["RS256", "RS384"])
    token = sign(idp.rsa_key, claims(), alg="RS384")
    assert _refused(verifier, token) == Reason.ALGORITHM_NOT_ALLOWED


def test_an_unknown_kid_is_refused_after_one_refetch(idp: Idp) -> None:
    verifier = idp.verifier()
    verifier.verify(sign(idp.rsa_key, claims()))  # the JWKS is now cached
    before = idp.jwks.fetches
    verifier.verify(sign(idp.rsa_key, claims()))
    assert idp.jwks.fetches == before  # served from the cache
    ghost = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _refused(verifier, sign(ghost, claims(), kid="ghost")) == Reason.UNKNOWN_KEY
    assert idp.jwks.fetches == before + 1  # exactly one refetch
    no_kid = jwt.encode(claims(), idp.rsa_key, algorithm="RS256")
    assert _refused(verifier, no_kid) == Reason.UNKNOWN_KEY


def test_unknown_kids_cannot_hammer_the_identity_provider(idp: Idp) -> None:
    verifier = idp.verifier(jwks_cooldown_s=60.0)
    verifier.verify(sign(idp.rsa_key, claims()))
    before = idp.jwks.fetches
    for n in range(20):
        token = sign(idp.rsa_key, claims(), kid=f"made-up-{n}")
        assert _refused(verifier, token) == Reason.UNKNOWN_KEY
    assert idp.jwks.fetches == before  # within the cooldown: no refetch at all


def test_a_rotated_key_is_picked_up(idp: Idp) -> None:
    verifier = idp.verifier()
    verifier.verify(sign(idp.rsa_key, claims()))
    before = idp.jwks.fetches
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.jwks.publish("rsa-2", new_key.public_key(), "RS256")
    principal = verifier.verify(sign(new_key, claims(sub="agent:rotated"), kid="rsa-2"))
    assert principal.id == "agent:rotated"
    assert idp.jwks.fetches == before + 1
    verifier.verify(sign(new_key, claims(), kid="rsa-2"))
    verifier.verify(sign(idp.rsa_key, claims()))  # the old key still works while published
    assert idp.jwks.fetches == before + 1


def test_an_unreachable_jwks_is_unavailable_not_a_bad_token(idp: Idp) -> None:
    verifier = OidcVerifier(ISSUER, AUDIENCE, "http://127.0.0.1:9/jwks", jwks_timeout_s=2)
    with pytest.raises(AuthenticationUnavailableError) as caught:
        verifier.verify(sign(idp.rsa_key, claims()))
    assert caught.value.reason == Reason.UNAVAILABLE
