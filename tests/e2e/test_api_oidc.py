"""OIDC bearer tokens at the HTTP API: each refusal of design section 8 is a 401 with
``WWW-Authenticate``; a good token writes as its ``sub``. The JWKS is served by a local HTTP
server in the test (keys made here)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, open_case_body, running_api, wait_for
from tests.support.oidc import AUDIENCE, ISSUER, Idp, b64, claims, serving_idp, sign


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    with serving_idp() as served:
        yield served


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings, idp: Idp) -> Iterator[Api]:
    oidc = {
        "SUPPORTES_OIDC_ISSUER": ISSUER,
        "SUPPORTES_OIDC_AUDIENCE": AUDIENCE,
        "SUPPORTES_OIDC_JWKS_URL": idp.url,
        "SUPPORTES_OIDC_LEEWAY_S": "5",
        "SUPPORTES_OIDC_JWKS_COOLDOWN_S": "0",
    }
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("oidc"), extra_env=oidc) as running,
    ):
        yield running


def _hs256_with_public_key(idp: Idp) -> str:
    public_pem = idp.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims(roles=["admin"])).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def _alg_none() -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims(roles=['admin'])).encode())}."


REFUSED: dict[str, Callable[[Idp], str | None]] = {
    "no token": lambda idp: None,
    "malformed": lambda idp: "not.a.jwt",
    "expired": lambda idp: sign(idp.rsa_key, claims(exp=int(time.time()) - 60)),
    "not yet valid": lambda idp: sign(idp.rsa_key, claims(nbf=int(time.time()) + 600)),
    "wrong issuer": lambda idp: sign(idp.rsa_key, claims(iss="https://evil.test")),
    "wrong audience": lambda idp: sign(idp.rsa_key, claims(aud="someone-else")),
    "bad signature": lambda idp: sign(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), claims()
    ),
    "alg none": lambda idp: _alg_none(),
    "HS256 signed with the public key": _hs256_with_public_key,
    "unknown kid": lambda idp: sign(idp.rsa_key, claims(), kid="never-published"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_bad_token_is_401(api: Api, idp: Idp, case: str) -> None:
    token = REFUSED[case](idp)
    with api.client(token) as http:
        answer = http.get("/v1/cases")
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_a_good_token_writes_as_its_subject(api: Api, idp: Idp) -> None:
    token = sign(idp.ec_key, claims(sub="agent:oidc-olga"), kid="ec-1", alg="ES256")
    body = open_case_body("customer:o-1")
    with api.client(token) as http:
        answer = http.post("/v1/commands", json=body)
        assert answer.status_code == 201, answer.text
        case = wait_for(
            lambda: (
                (r := http.get(f"/v1/cases/{body['aggregate_id']}/history")).status_code == 200
                and r
            ),
            what="history",
        )
    assert case.json()["events"][0]["envelope"]["actor"] == {
        "id": "agent:oidc-olga",
        "kind": "agent",
    }
    assert uuid.UUID(body["aggregate_id"])


def test_an_oidc_token_signs_in_to_the_console_until_it_expires(api: Api, idp: Idp) -> None:
    from supportes.bench.chromium import chromium
    from tests.e2e.browser import browsing, sign_in

    expires = int(time.time()) + 300
    token = sign(idp.rsa_key, claims(sub="auditor:olga", roles=["auditor"], exp=expires))
    customer = sign(
        idp.rsa_key, claims(sub="customer:c-77", customer_id="customer:c-77", roles=["customer"])
    )
    with chromium() as browser, browsing(browser, api.base_url) as (context, page, _):
        sign_in(page, token)
        assert "auditor:olga (auditor)" in page.inner_text(".who")
        (cookie,) = [c for c in context.cookies() if c["name"].endswith("supportes_console")]
        assert abs(cookie["expires"] - expires) <= 5  # the session ends with the token
        context.clear_cookies()
        page.goto("/console/sign-in")
        page.fill("#token", customer)
        page.click("button[type=submit]")
        page.wait_for_selector("#sign-in-error")
        assert "customer: the console is for" in page.inner_text("#sign-in-error")
