"""``supportes stack up|down|status`` on a private stack (own state directory and ports)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from supportes.settings import Settings
from tests.conftest import external_kafka_env
from tests.e2e.cli import run_cli, scratch_stack_env


@pytest.fixture
def scratch_env() -> Iterator[dict[str, str]]:
    """Settings for a second, private local stack; it is stopped and deleted afterwards."""
    # Under the checkout, not /tmp: the postgres user must be able to reach the data directory.
    home = Path.cwd() / ".local" / "scratch" / uuid.uuid4().hex[:8]
    env = scratch_stack_env(home)
    try:
        yield env
    finally:
        run_cli("stack", "down", env=env)
        shutil.rmtree(home, ignore_errors=True)


def test_up_is_idempotent_and_down_then_status_reports_down(scratch_env: dict[str, str]) -> None:
    first = run_cli("stack", "up", env=scratch_env)
    assert first.returncode == 0, first.stderr
    assert "started kafka" in first.stdout
    assert "created topics supportes.commands" in first.stdout
    assert "started postgres" in first.stdout
    assert "applied migrations 0001" in first.stdout

    began = time.monotonic()
    second = run_cli("stack", "up", env=scratch_env)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert "started" not in second.stdout
    assert time.monotonic() - began < 15

    status = run_cli("stack", "status", "--json", env=scratch_env)
    assert status.returncode == 0, status.stderr
    parts = {c["component"]: c for c in json.loads(status.stdout)}
    assert parts["kafka"]["running"] is True
    assert parts["kafka"]["address"] == f"127.0.0.1:{scratch_env['SUPPORTES_KAFKA_PORT']}"
    assert parts["postgres"]["running"] is True
    assert parts["postgres"]["managed"] == "local"

    down = run_cli("stack", "down", env=scratch_env)
    assert down.returncode == 0, down.stderr
    assert "stopped kafka" in down.stdout
    assert "stopped postgres" in down.stdout

    after = run_cli("stack", "status", env=scratch_env)
    assert after.returncode == 1
    assert after.stdout.count("DOWN") == 2

    again = run_cli("stack", "down", env=scratch_env)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout

    # A restart reuses the formatted storage, topics and migrations.
    restart = run_cli("stack", "up", env=scratch_env)
    assert restart.returncode == 0, restart.stderr
    assert "started kafka" in restart.stdout
    assert "created topics" not in restart.stdout
    assert "applied migrations" not in restart.stdout


def test_external_services_are_used_not_started(
    scratch_env: dict[str, str], stack: Settings
) -> None:
    """With both services configured, `up` starts nothing yet ensures topics and migrations."""
    main = run_cli("stack", "status", "--json")  # the shared stack the test session runs
    assert main.returncode == 0, main.stderr
    token = uuid.uuid4().hex[:8]
    env = {
        **scratch_env,
        **external_kafka_env(stack),
        "SUPPORTES_PG_DSN": stack.dsn,
        "SUPPORTES_TOPIC_PREFIX": f"ext-{token}",
    }
    result = run_cli("stack", "up", env=env)
    assert result.returncode == 0, result.stderr
    assert f"created topics ext-{token}.commands" in result.stdout
    assert "started" not in result.stdout
    assert not Path(scratch_env["SUPPORTES_HOME"], "kafka").exists()
    assert not Path(scratch_env["SUPPORTES_HOME"], "pg").exists()
    status = json.loads(run_cli("stack", "status", "--json", env=env).stdout)
    assert {c["managed"] for c in status if c["required"]} == {"external"}
    assert all(c["running"] for c in status if c["required"])
