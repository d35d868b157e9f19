"""The API's verified-token cache against the real PostgreSQL: revocation and hand edits are
heard at once (migration 0009's trigger), and nothing is remembered while nobody listens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg2
import pytest

from supportes.auth.api_tokens import create_token, revoke_token, token_info
from supportes.auth.authenticator import Authenticator
from supportes.auth.principal import AuthenticationError, Reason, Role
from supportes.auth.verified_cache import VerifiedTokenCache
from supportes.db.connect import connect
from supportes.db.pool import ConnectionPool
from supportes.settings import Settings
from tests.conftest import fresh_database


class Setup:
    def __init__(self, settings: Settings, dsn: str) -> None:
        self.settings = settings
        self.dsn = dsn
        self.pool = ConnectionPool(dsn, 2)
        self.cache = VerifiedTokenCache(30, lambda: connect(dsn))
        self.auth = Authenticator(settings, pool=self.pool, cache=self.cache)
        self.admin = connect(dsn)
        self.admin.autocommit = True

    def close(self) -> None:
        self.cache.close()
        self.pool.close()
        self.admin.close()


@pytest.fixture
def setup(stack: Settings) -> Iterator[Setup]:
    with fresh_database(stack) as dsn:
        it = Setup(stack.model_copy(update={"pg_dsn": dsn}), dsn)
        it.cache.start()
        assert it.cache.wait_listening(10)
        try:
            yield it
        finally:
            it.close()


def _eventually(check: object, timeout_s: float = 2.0) -> float:
    """Seconds until ``check()`` is true (fails after ``timeout_s``)."""
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - began < timeout_s, "not within the time allowed"
        time.sleep(0.005)
    return time.monotonic() - began


def test_a_verified_token_is_answered_without_postgresql(setup: Setup) -> None:
    issued = create_token(setup.admin, "agent:maria", [Role.AGENT])
    header = f"Bearer {issued.secret}"
    assert setup.auth.cached(header) is None
    assert setup.auth.authenticate(header).id == "agent:maria"
    setup.pool.close()  # no more connections: only the cache can answer now
    assert setup.auth.cached(header) is not None
    assert setup.auth.authenticate(header).id == "agent:maria"


def test_revocation_is_heard_at_once(setup: Setup) -> None:
    issued = create_token(setup.admin, "agent:maria", [Role.AGENT])
    header = f"Bearer {issued.secret}"
    setup.auth.authenticate(header)
    assert setup.auth.cached(header) is not None
    revoke_token(setup.admin, issued.token_id)
    took = _eventually(lambda: setup.auth.cached(header) is None)
    assert took < 1.0
    with pytest.raises(AuthenticationError) as refused:
        setup.auth.authenticate(header)
    assert refused.value.reason == Reason.REVOKED


def test_a_hand_edit_of_the_row_is_heard_too(setup: Setup) -> None:
    issued = create_token(setup.admin, "agent:maria", [Role.AGENT, Role.LEAD])
    header = f"Bearer {issued.secret}"
    setup.auth.authenticate(header)
    with setup.admin.cursor() as cur:
        cur.execute(
            "UPDATE auth.api_tokens SET roles = ARRAY['agent'] WHERE token_id = %s",
            (issued.token_id,),
        )
    _eventually(lambda: setup.auth.cached(header) is None)
    assert setup.auth.authenticate(header).roles == {Role.AGENT}


def test_recording_a_use_does_not_evict(setup: Setup) -> None:
    """``last_used_at`` is written through the read-only pool, and announces nothing."""
    issued = create_token(setup.admin, "agent:maria", [Role.AGENT])
    header = f"Bearer {issued.secret}"
    heard = setup.cache.heard
    setup.auth.authenticate(header)
    info = token_info(setup.admin, issued.token_id)
    assert info is not None
    assert info.last_used_at is not None
    time.sleep(0.3)
    assert setup.cache.heard == heard
    assert setup.auth.cached(header) is not None


def test_nothing_is_remembered_while_nobody_listens(setup: Setup) -> None:
    issued = create_token(setup.admin, "agent:maria", [Role.AGENT])
    header = f"Bearer {issued.secret}"
    setup.auth.authenticate(header)
    with setup.admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        )
        killed = cur.fetchall()
    assert killed, "the listener's session was not found"
    _eventually(lambda: not setup.cache.listening, timeout_s=5)
    assert setup.auth.cached(header) is None
    # While it reconnects, verifications still work (from PostgreSQL) ...
    assert setup.auth.authenticate(header).id == "agent:maria"
    # ... and once it listens again tokens are remembered again.
    assert setup.cache.wait_listening(10)
    setup.auth.authenticate(header)
    assert setup.auth.cached(header) is not None


def test_an_expired_token_is_not_answered_from_the_cache(setup: Setup) -> None:
    soon = datetime.now(UTC).replace(microsecond=0)
    issued = create_token(
        setup.admin, "agent:maria", [Role.AGENT], expires_at=soon.replace(year=soon.year + 1)
    )
    header = f"Bearer {issued.secret}"
    setup.auth.authenticate(header)
    assert setup.auth.cached(header) is not None
    with setup.admin.cursor() as cur:
        cur.execute(
            "UPDATE auth.api_tokens SET expires_at = created_at + interval '1 millisecond'"
            " WHERE token_id = %s",
            (issued.token_id,),
        )
    _eventually(lambda: setup.auth.cached(header) is None)
    with pytest.raises(AuthenticationError) as refused:
        setup.auth.authenticate(header)
    assert refused.value.reason == Reason.EXPIRED


def test_psycopg2_is_the_listener(setup: Setup) -> None:
    """The listener's session shows in pg_stat_activity as a LISTEN (what the test above
    relies on)."""
    with setup.admin.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = 'LISTEN supportes_api_tokens'"
        )
        row = cur.fetchone()
    assert row is not None
    assert row[0] == 1
    assert isinstance(setup.admin, psycopg2.extensions.connection)
