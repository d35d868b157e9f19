"""Running the installed ``supportes`` executable as a subprocess."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from supportes.stack import processes

SUPPORTES = shutil.which("supportes", path=str(Path(sys.executable).parent)) or "supportes"
# Variables of the developer's or CI's shell that must not leak into a scratch stack.
_SCRUBBED = (
    "SUPPORTES_KAFKA_BOOTSTRAP",
    "SUPPORTES_PG_DSN",
    "SUPPORTES_PG_WRITER_DSN",
    "SUPPORTES_PG_PROJECTOR_DSN",
    "SUPPORTES_PG_API_DSN",
    "SUPPORTES_PG_ANALYTICS_DSN",
    "SUPPORTES_HOME",
    "SUPPORTES_TOPIC_PREFIX",
)


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 180, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``supportes ARGS`` with ``env`` added to a scrubbed copy of this environment."""
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    full_env.update(env or {})
    return subprocess.run(
        [SUPPORTES, *args],
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody uses right now, below the kernel's ephemeral ports (in
    them, an outgoing connection could take it before the server binds it: see
    ``processes.ephemeral_ports``)."""
    span = processes.free_port_base(20_000, 60_000, 1)
    for _ in range(200):
        port = random.randrange(span.start, span.stop)
        if port not in _HANDED_OUT and processes.port_bindable("127.0.0.1", port):
            _HANDED_OUT.add(port)  # not bound yet by whoever asked: never the same one twice
            return port
    with socket.socket() as sock:  # no room below: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def scratch_stack_env(home: Path) -> dict[str, str]:
    """Settings for a second, private local stack under ``home`` on free ports (JSON logs)."""
    return {
        "SUPPORTES_HOME": str(home),
        "SUPPORTES_KAFKA_PORT": str(free_port()),
        "SUPPORTES_KAFKA_CONTROLLER_PORT": str(free_port()),
        "SUPPORTES_PG_PORT": str(free_port()),
        "SUPPORTES_KAFKA_HEAP": "384m",
        "SUPPORTES_LOG_FORMAT": "json",
        "SUPPORTES_API_LISTEN": "127.0.0.1:0",  # serve's API on a free port
    }


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command printed on stderr (asserts there is exactly one)."""
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("supportes: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[0]


def spawn_cli(
    *args: str, env: Mapping[str, str] | None = None, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``supportes ARGS`` in the background, stdout and stderr into ``log``."""
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    full_env.update(env or {})
    with log.open("ab") as out:
        return subprocess.Popen(
            [SUPPORTES, *args],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    """Wait until ``path`` exists; fail early when ``process`` exits first."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"exited with {process.returncode} before {path.name}"
        assert time.monotonic() < deadline, f"{path.name} not written within {timeout_s:g}s"
        time.sleep(0.1)
