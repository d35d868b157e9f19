"""The CLI starts without the HTTP stack: every verb but ``serve --api`` runs without FastAPI,
uvicorn or the console's templates loaded (half a second and ~20 MiB less per command)."""

from __future__ import annotations

import subprocess
import sys

HTTP_STACK = ("fastapi", "starlette", "uvicorn", "jinja2", "supportes.api.server")


def test_importing_the_cli_leaves_the_http_stack_unloaded() -> None:
    probe = (
        "import sys; from supportes.cli.main import build_parser; build_parser();"
        f" print(','.join(name for name in {HTTP_STACK!r} if name in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == ""
