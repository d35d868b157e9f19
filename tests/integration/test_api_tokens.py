"""API tokens in a real PostgreSQL (migration 0007): create, verify, list, revoke, expiry.

The secret is shown once and never stored: the whole table is scanned for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.extensions
import pytest

from supportes.auth.api_tokens import (
    create_token,
    list_tokens,
    revoke_token,
    token_info,
    verify_token,
)
from supportes.auth.authenticator import Authenticator
from supportes.auth.principal import AuthenticationError, Principal, Reason, Role
from supportes.db.connect import connect
from supportes.settings import Settings, load_settings
from tests.conftest import fresh_database


@dataclass(frozen=True)
class TokenDb:
    """A fresh, migrated database of the running PostgreSQL (no Kafka needed here)."""

    settings: Settings
    dsn: str


@pytest.fixture
def token_db() -> Iterator[TokenDb]:
    stack = load_settings()
    with fresh_database(stack) as dsn:
        yield TokenDb(stack.model_copy(update={"pg_dsn": dsn}), dsn)


@pytest.fixture
def conn(token_db: TokenDb) -> Iterator[psycopg2.extensions.connection]:
    connection = connect(token_db.dsn)
    yield connection
    connection.close()


def _refused(conn: psycopg2.extensions.connection, secret: str, now: datetime) -> str:
    with pytest.raises(AuthenticationError) as caught:
        verify_token(conn, secret, now)
    assert secret not in caught.value.message
    return caught.value.reason


def test_create_verify_and_list(conn: psycopg2.extensions.connection) -> None:
    now = datetime.now(UTC)
    issued = create_token(conn, "agent:maria", [Role.AGENT, Role.LEAD])
    assert issued.secret.startswith(f"spt_{issued.token_id}_")
    assert len(issued.secret) == len("spt_") + 16 + 1 + 43
    principal = verify_token(conn, issued.secret, now)
    assert principal == Principal("agent:maria", frozenset({Role.AGENT, Role.LEAD}))
    customer = create_token(conn, "customer:00042", ["customer"])
    assert verify_token(conn, customer.secret, now).customer_id == "customer:00042"
    listed = {t.token_id: t for t in list_tokens(conn)}
    assert set(listed) == {issued.token_id, customer.token_id}
    row = listed[issued.token_id].as_dict(now)
    assert row["roles"] == ["agent", "lead"]
    assert row["status"] == "active"
    assert row["last_used_at"] is not None  # touched by the verification
    assert issued.secret not in repr(row)


def test_the_secret_is_never_stored(conn: psycopg2.extensions.connection) -> None:
    secrets = [create_token(conn, f"integration:n{i}", ["integration"]).secret for i in range(3)]
    with conn.cursor() as cur:
        cur.execute("SELECT row_to_json(t)::text, secret_sha256 FROM auth.api_tokens t")
        rows = cur.fetchall()
        cur.execute("SELECT encode(secret_sha256, 'escape') FROM auth.api_tokens")
        raw = " ".join(r[0] for r in cur.fetchall())
    conn.rollback()
    dump = " ".join(r[0] for r in rows) + raw
    for secret in secrets:
        assert secret not in dump
        assert secret.split("_", 2)[2] not in dump  # not even its random part
    assert {bytes(r[1]) for r in rows} == {hashlib.sha256(s.encode()).digest() for s in secrets}


def test_refusals(conn: psycopg2.extensions.connection) -> None:
    now = datetime.now(UTC)
    issued = create_token(conn, "agent:maria", ["agent"])
    random_part = issued.secret.split("_", 2)[2]
    wrong_secret = f"spt_{issued.token_id}_{'A' * 43}"
    unknown_id = f"spt_{'0' * 16}_{random_part}"
    assert _refused(conn, wrong_secret, now) == Reason.UNKNOWN_TOKEN
    assert _refused(conn, unknown_id, now) == Reason.UNKNOWN_TOKEN
    for malformed in ("spt_", "spt_abc_def", issued.secret + "x", issued.secret[:-1], "jwt"):
        assert _refused(conn, malformed, now) == Reason.MALFORMED


def test_revoke(conn: psycopg2.extensions.connection) -> None:
    now = datetime.now(UTC)
    issued = create_token(conn, "integration:mail", ["integration"])
    keep = create_token(conn, "integration:chat", ["integration"])
    assert revoke_token(conn, issued.token_id)
    assert _refused(conn, issued.secret, now) == Reason.REVOKED
    assert not revoke_token(conn, issued.token_id)  # already revoked
    assert not revoke_token(conn, "0" * 16)  # no such token
    info = token_info(conn, issued.token_id)
    assert info is not None
    assert info.status(now) == "revoked"
    assert verify_token(conn, keep.secret, now).id == "integration:chat"


def test_expiry(conn: psycopg2.extensions.connection) -> None:
    now = datetime.now(UTC)
    expires = now + timedelta(hours=1)
    issued = create_token(conn, "agent:temp", ["agent"], expires_at=expires)
    assert verify_token(conn, issued.secret, now).id == "agent:temp"
    assert verify_token(conn, issued.secret, expires - timedelta(seconds=1)).id == "agent:temp"
    assert _refused(conn, issued.secret, expires) == Reason.EXPIRED
    info = token_info(conn, issued.token_id)
    assert info is not None
    assert info.status(expires) == "expired"
    assert info.expires_at == expires
    with pytest.raises(ValueError, match="future"):
        create_token(conn, "agent:temp", ["agent"], expires_at=now - timedelta(seconds=1))


def test_invalid_tokens_are_not_created(conn: psycopg2.extensions.connection) -> None:
    for principal_id, roles, customer in [
        ("agent:maria", [], None),
        ("agent:maria", ["wizard"], None),
        ("customer:1", ["customer", "agent"], None),
        ("agent:maria", ["agent"], "customer:1"),
        ("agent maria", ["agent"], None),
        ("portal-user", ["customer"], None),
    ]:
        with pytest.raises(ValueError, match=r"role|customer|principal id"):
            create_token(conn, principal_id, roles, customer)
    assert list_tokens(conn) == []


def test_last_used_at_is_written_at_most_once_a_minute(
    conn: psycopg2.extensions.connection,
) -> None:
    now = datetime.now(UTC)
    issued = create_token(conn, "agent:maria", ["agent"])

    def last_used() -> datetime | None:
        info = token_info(conn, issued.token_id)
        assert info is not None
        return info.last_used_at

    assert last_used() is None
    verify_token(conn, issued.secret, now)
    assert last_used() == now
    verify_token(conn, issued.secret, now + timedelta(seconds=30))
    assert last_used() == now
    verify_token(conn, issued.secret, now + timedelta(minutes=2))
    assert last_used() == now + timedelta(minutes=2)
    conn.set_session(readonly=True)
    verify_token(conn, issued.secret, now + timedelta(minutes=5))  # read-only: no touch, no error
    assert last_used() == now + timedelta(minutes=2)


def test_the_authenticator_reuses_and_replaces_connections(token_db: TokenDb) -> None:
    opened: list[psycopg2.extensions.connection] = []

    def open_connection() -> psycopg2.extensions.connection:
        opened.append(connect(token_db.dsn))
        return opened[-1]

    auth = Authenticator(token_db.settings, connect=open_connection)
    try:
        admin = connect(token_db.dsn)
        issued = create_token(admin, "auditor:ann", ["auditor"])
        for _ in range(5):
            assert auth.authenticate(f"Bearer {issued.secret}").roles == {Role.AUDITOR}
        assert len(opened) == 1
        opened[0].close()  # the pooled connection died
        assert auth.authenticate(f"Bearer {issued.secret}").id == "auditor:ann"
        assert len(opened) == 2
        revoke_token(admin, issued.token_id)
        admin.close()
        with pytest.raises(AuthenticationError) as caught:
            auth.authenticate(f"Bearer {issued.secret}")
        assert caught.value.reason == Reason.REVOKED
    finally:
        auth.close()
