"""A local OIDC identity provider for tests: keys made here, their JWKS served over real HTTP
on 127.0.0.1 (the request count tells how often a verifier fetched it), tokens signed here."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from supportes.auth.oidc import OidcVerifier

ISSUER = "https://idp.test/realms/support"
AUDIENCE = "supportes-api"


@dataclass
class Jwks:
    """What the test server serves, and how often it was asked."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, kid: str, public_key: Any, alg: str) -> None:
        """Add a public key under ``kid``."""
        algorithm = RSAAlgorithm if alg.startswith(("RS", "PS")) else ECAlgorithm
        jwk = algorithm.to_jwk(public_key, as_dict=True)
        with self.lock:
            self.keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})


@dataclass
class Idp:
    """A local identity provider: its JWKS URL, the signing keys, and the served set."""

    url: str
    jwks: Jwks
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    def verifier(self, **kwargs: Any) -> OidcVerifier:
        """A verifier of this issuer (leeway 5 s, no refetch cooldown unless given)."""
        options: dict[str, Any] = {"leeway_s": 5.0, "jwks_cooldown_s": 0.0, **kwargs}
        return OidcVerifier(ISSUER, AUDIENCE, self.url, **options)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "agent:maria",
        "iat": now,
        "nbf": now - 1,
        "exp": now + 300,
        "roles": ["agent", "offline_access"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: Any, claims: dict[str, Any], kid: str = "rsa-1", alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextmanager
def serving_idp() -> Iterator[Idp]:
    """An identity provider with an RS256 key ``rsa-1`` and an ES256 key ``ec-1``."""
    jwks = Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with jwks.lock:
                jwks.fetches += 1
                body = json.dumps({"keys": list(jwks.keys)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks.publish("rsa-1", rsa_key.public_key(), "RS256")
    jwks.publish("ec-1", ec_key.public_key(), "ES256")
    try:
        yield Idp(f"http://127.0.0.1:{server.server_port}/jwks", jwks, rsa_key, ec_key)
    finally:
        server.shutdown()
        server.server_close()
