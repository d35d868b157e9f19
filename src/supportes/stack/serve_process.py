"""``supportes serve`` as a background process: start it detached, find it, stop it.

The process runs in its own session with its pid in ``<home>/serve.pid`` and its JSON log in
``<home>/logs/serve.log``. It writes ``<home>/serve.ready`` once its services run (the writer
has opened all the partitions it owns), which is what :func:`start` waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.settings import Settings
from supportes.stack import processes
from supportes.stack.layout import serve_paths

log = get_logger("stack.serve")
STOP_GRACE_S = 30.0
"""How long a stopping serve may take to finish its batch before it is killed."""


@dataclass(frozen=True)
class ServeState:
    """Whether the background serve runs, and where its log is."""

    pid: int | None
    ready: bool
    log_file: Path

    @property
    def running(self) -> bool:
        """True when the process is alive."""
        return self.pid is not None


def state(settings: Settings) -> ServeState:
    """The background serve process as its pid file tells (stale files are removed)."""
    paths = serve_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    return ServeState(pid, pid is not None and paths.ready_file.exists(), paths.log_file)


def start(settings: Settings, serve_args: Sequence[str] = ()) -> tuple[int, bool]:
    """Start ``supportes serve SERVE_ARGS`` detached unless it runs; wait until it is ready.

    Returns the pid and whether this call started it. Raises StackError (with the log's last
    line) when it exits or is not ready within ``startup_timeout_s``.
    """
    paths = serve_paths(settings)
    running = processes.read_pid(paths.pid_file)
    if running is not None:
        return running, False
    paths.log_file.parent.mkdir(parents=True, exist_ok=True)
    paths.ready_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "supportes",
        "serve",
        *serve_args,
        "--ready-file",
        str(paths.ready_file),
    ]
    env = {**os.environ, "SUPPORTES_HOME": str(settings.home_dir), "SUPPORTES_LOG_FORMAT": "json"}
    with paths.log_file.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    paths.pid_file.write_text(f"{process.pid}\n")
    log.info("starting serve", pid=process.pid, log=str(paths.log_file))
    ready = processes.wait_until(
        lambda: process.poll() is not None or paths.ready_file.exists(),
        timeout_s=settings.startup_timeout_s,
        interval_s=0.2,
    )
    if process.poll() is not None or not ready:
        processes.terminate(process.pid, timeout_s=10)
        process.wait(timeout=10)
        paths.pid_file.unlink(missing_ok=True)
        last = processes.tail(paths.log_file, 1)
        why = "exited" if ready else f"was not ready within {settings.startup_timeout_s:g}s"
        raise StackError(f"supportes serve {why} (see {paths.log_file}): {last or 'no output'}")
    return process.pid, True


def stop(settings: Settings, *, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM the background serve, SIGKILL it after ``grace_s``; True when it was running."""
    paths = serve_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    if pid is None:
        return False
    log.info("stopping serve", pid=pid)
    if not processes.terminate(pid, timeout_s=grace_s):
        log.warning("serve did not stop in time; killed", pid=pid)
    paths.pid_file.unlink(missing_ok=True)
    paths.ready_file.unlink(missing_ok=True)
    return True
