"""Console sessions in PostgreSQL (migration 0015), as the API's role: made, found, ended;
ended by the API token's revocation or expiry; never holding a secret; closed to analytics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.extensions
import pytest

from supportes.auth import Role
from supportes.auth.api_tokens import create_token, revoke_token
from supportes.auth.authenticator import Credential
from supportes.auth.principal import Principal
from supportes.console.sessions import create_session, digest, end_session, find_session
from supportes.db.connect import connect
from supportes.settings import PgComponent
from tests.conftest import Isolated

NOW = datetime.now(UTC)
TTL = timedelta(hours=8)


@pytest.fixture
def api_conn(isolated: Isolated) -> Iterator[psycopg2.extensions.connection]:
    """A connection like the API pool's: the API's role, read-only autocommit."""
    conn = connect(isolated.settings.dsn_for(PgComponent.API))
    conn.set_session(readonly=True, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _api_token(isolated: Isolated, expires_at: datetime | None = None) -> Credential:
    owner = connect(isolated.dsn)
    try:
        issued = create_token(owner, "agent:maria", [Role.AGENT], expires_at=expires_at)
        owner.commit()
    finally:
        owner.close()
    return Credential(issued.principal, issued.expires_at, issued.token_id)


def test_a_session_is_made_found_and_ended(
    isolated: Isolated, api_conn: psycopg2.extensions.connection
) -> None:
    made = create_session(api_conn, _api_token(isolated), TTL, NOW)
    found = find_session(api_conn, made.secret, NOW)
    assert found is not None
    assert found.principal.id == "agent:maria"
    assert found.principal.roles == frozenset({Role.AGENT})
    assert found.csrf_token == made.session.csrf_token
    assert found.expires_at == NOW + TTL
    assert find_session(api_conn, made.secret + "x", NOW) is None
    assert find_session(api_conn, made.secret, NOW + TTL) is None  # expired
    assert end_session(api_conn, made.secret) is True
    assert find_session(api_conn, made.secret, NOW) is None
    assert end_session(api_conn, made.secret) is False


def test_revoking_the_api_token_ends_its_sessions(
    isolated: Isolated, api_conn: psycopg2.extensions.connection
) -> None:
    credential = _api_token(isolated)
    made = create_session(api_conn, credential, TTL, NOW)
    assert find_session(api_conn, made.secret, NOW) is not None
    owner = connect(isolated.dsn)
    try:
        assert credential.token_id is not None
        assert revoke_token(owner, credential.token_id)
    finally:
        owner.close()
    assert find_session(api_conn, made.secret, NOW) is None


def test_a_session_never_outlives_its_credential(
    isolated: Isolated, api_conn: psycopg2.extensions.connection
) -> None:
    soon = NOW + timedelta(minutes=10)
    made = create_session(api_conn, _api_token(isolated, expires_at=soon), TTL, NOW)
    assert made.session.expires_at == soon
    assert find_session(api_conn, made.secret, soon - timedelta(seconds=1)) is not None
    assert find_session(api_conn, made.secret, soon) is None
    oidc = Credential(
        Principal("auditor:ada", frozenset({Role.AUDITOR}), source="oidc"), soon, None
    )
    by_oidc = create_session(api_conn, oidc, TTL, NOW)
    assert by_oidc.session.expires_at == soon
    assert find_session(api_conn, by_oidc.secret, NOW) is not None


def test_the_table_holds_no_secret_and_analytics_cannot_read_it(
    isolated: Isolated, api_conn: psycopg2.extensions.connection
) -> None:
    made = create_session(api_conn, _api_token(isolated), TTL, NOW)
    with api_conn.cursor() as cur:
        cur.execute("SELECT session_sha256, csrf_token FROM auth.console_sessions")
        ((stored, csrf),) = cur.fetchall()
    assert bytes(stored) == digest(made.secret)
    assert made.secret not in (bytes(stored).hex(), csrf)
    analytics_dsn = isolated.settings.pg_analytics_dsn
    if analytics_dsn is None:
        pytest.skip("no analytics role on this stack")
    analytics = connect(analytics_dsn)
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), analytics.cursor() as cur:
            cur.execute("SELECT 1 FROM auth.console_sessions")
    finally:
        analytics.close()
