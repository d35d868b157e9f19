"""``supportes serve`` as a subprocess against one test's corner of the shared stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Isolated
from tests.e2e.cli import spawn_cli, wait_for_file


def start_serve(
    isolated: Isolated, tmp_path: Path, name: str, **extra_env: str
) -> subprocess.Popen[bytes]:
    """Start `supportes serve` (writer and projector; log in `<tmp_path>/<name>.log`; with
    ``extra_env`` on top of the corner's environment), ready."""
    ready = tmp_path / f"{name}.ready"
    process = spawn_cli(
        "serve",
        "--group-id",
        isolated.group_id,
        "--ready-file",
        str(ready),
        env={**isolated.env(), **extra_env},
        log=tmp_path / f"{name}.log",
    )
    wait_for_file(ready, process)
    return process
