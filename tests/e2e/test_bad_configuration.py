"""Bad configuration fails fast with one line naming the setting, never a stack trace."""

from __future__ import annotations

import socket
import sys
import time
import uuid
from pathlib import Path

from supportes.settings import Settings
from tests.conftest import external_kafka_env
from tests.e2e.cli import error_line, free_port, run_cli


def test_unreachable_bootstrap_names_the_setting() -> None:
    env = {
        "SUPPORTES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "SUPPORTES_CONNECT_TIMEOUT_S": "2",
    }
    began = time.monotonic()
    result = run_cli("stack", "up", env=env)
    assert result.returncode == 1
    assert "SUPPORTES_KAFKA_BOOTSTRAP" in error_line(result)
    assert time.monotonic() - began < 30


def test_bad_dsn_names_the_setting(stack: Settings) -> None:
    base = {
        **external_kafka_env(stack),
        "SUPPORTES_TOPIC_PREFIX": f"dsn-{uuid.uuid4().hex[:8]}",
    }
    unreachable = run_cli(
        "stack", "up", env={**base, "SUPPORTES_PG_DSN": f"postgresql://x@127.0.0.1:{free_port()}/x"}
    )
    assert unreachable.returncode == 1
    assert "SUPPORTES_PG_DSN" in error_line(unreachable)
    malformed = run_cli("stack", "up", env={**base, "SUPPORTES_PG_DSN": "host=127.0.0.1 port"})
    assert malformed.returncode == 1
    assert "SUPPORTES_PG_DSN" in error_line(malformed)


def test_port_in_use_names_the_setting() -> None:
    home = Path.cwd() / ".local" / "scratch" / uuid.uuid4().hex[:8]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_cli(
            "stack",
            "up",
            env={
                "SUPPORTES_HOME": str(home),
                "SUPPORTES_KAFKA_PORT": str(port),
                "SUPPORTES_KAFKA_CONTROLLER_PORT": str(free_port()),
            },
        )
    assert result.returncode == 1
    line = error_line(result)
    assert "SUPPORTES_KAFKA_PORT" in line
    assert str(port) in line


def test_missing_java_names_it() -> None:
    home = Path.cwd() / ".local" / "scratch" / uuid.uuid4().hex[:8]
    result = run_cli(
        "stack",
        "up",
        env={
            "PATH": str(Path(sys.executable).parent),  # the venv only: no java on it
            "JAVA_HOME": "",
            "SUPPORTES_HOME": str(home),
            "SUPPORTES_KAFKA_PORT": str(free_port()),
            "SUPPORTES_KAFKA_CONTROLLER_PORT": str(free_port()),
        },
    )
    assert result.returncode == 1
    line = error_line(result)
    assert "java not found" in line
    assert "SUPPORTES_KAFKA_BOOTSTRAP" in line


def test_invalid_setting_value_names_the_variable() -> None:
    result = run_cli("stack", "status", env={"SUPPORTES_PARTITIONS": "many"})
    assert result.returncode == 1
    assert "SUPPORTES_PARTITIONS" in error_line(result)


def test_usage_error_exits_2() -> None:
    result = run_cli("stack", "sideways")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
