"""``supportes tokens create|list|revoke`` as the installed executable, against PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from supportes.auth.api_tokens import verify_token
from supportes.auth.principal import AuthenticationError, Role
from supportes.db.connect import connect
from supportes.settings import load_settings
from tests.conftest import fresh_database
from tests.e2e.cli import error_line, run_cli


@pytest.fixture
def dsn() -> Iterator[str]:
    """A fresh, migrated database of the running PostgreSQL."""
    with fresh_database(load_settings()) as url:
        yield url


def test_create_list_revoke(dsn: str) -> None:
    env = {"SUPPORTES_PG_DSN": dsn}
    made = run_cli(
        "tokens", "create", "--principal", "agent:maria", "--role", "agent", "--role", "lead",
        "--expires", "30d", "--json", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    issued = json.loads(made.stdout)
    secret = issued["secret"]
    assert issued["roles"] == ["agent", "lead"]
    text = run_cli(
        "tokens", "create", "--principal", "customer:00042", "--role", "customer", env=env
    )
    assert text.returncode == 0, text.stderr
    customer_secret = text.stdout.strip().splitlines()[-1]
    assert customer_secret.startswith("spt_")
    assert "shown only now" in text.stdout

    conn = connect(dsn)
    try:
        now = datetime.now(UTC)
        assert verify_token(conn, secret, now).roles == {Role.AGENT, Role.LEAD}
        assert verify_token(conn, customer_secret, now).customer_id == "customer:00042"

        listed = run_cli("tokens", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [r["principal_id"] for r in rows] == ["agent:maria", "customer:00042"]
        assert all(r["status"] == "active" for r in rows)
        table = run_cli("tokens", "list", env=env)
        assert table.returncode == 0, table.stderr
        assert issued["token_id"] in table.stdout
        for output in (listed.stdout, table.stdout):
            assert "spt_" not in output
            assert secret not in output

        revoked = run_cli("tokens", "revoke", issued["token_id"], env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked token {issued['token_id']}" in revoked.stdout
        with pytest.raises(AuthenticationError, match="revoked"):
            verify_token(conn, secret, now)
        again = run_cli("tokens", "revoke", issued["token_id"], env=env)
        assert again.returncode == 0
        assert "already revoked" in again.stdout
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--principal", "agent:x", "--role", "wizard"], "--role: unknown role"),
        (["create", "--principal", "agent:x", "--role", "agent", "--expires", "soon"], "--expires"),
        (["create", "--principal", "x", "--role", "agent", "--customer", "customer:1"], "customer"),
        (["create", "--principal", "c1", "--role", "customer"], "customer:<id>"),
        (["revoke", "0123456789abcdef"], "no token"),
    ],
)  # fmt: skip
def test_bad_input_is_a_usage_error(dsn: str, args: list[str], message: str) -> None:
    result = run_cli("tokens", *args, env={"SUPPORTES_PG_DSN": dsn})
    assert result.returncode == 2
    assert message in error_line(result)
