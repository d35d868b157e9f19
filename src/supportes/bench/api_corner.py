"""The API benchmarks' private corner of the stack: scratch topics and database, a ``supportes
serve`` process (writer, and projector for the reads) and an API process serving
:func:`~supportes.api.app.create_app` plus one extra route, ``GET /bare``, that answers a fixed
JSON body with no auth and no database (``python -m supportes.bench.api_bench serve``; it exits
by itself when its parent goes away)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.stats import percentile
from supportes.bench.wrk import LOOPBACK
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.security import security_protocol, write_credentials_file
from supportes.settings import Settings

RATE_UNLIMITED = "1000000"
"""The benchmark's API process lifts the per-principal rate limit (200/s by default) so that
one token's load is measured, not refused; the limiter is still consulted per request."""
STARTUP_TIMEOUT_S = 90.0
SERVER_MAX_S = 1800.0
"""The API process exits by itself after this long, or as soon as its parent is gone."""
TIMING_CALLS = 500


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``python -m supportes.bench.api_bench serve --port N --bare-file F``: the API of the
    environment's settings plus ``GET /bare``, on loopback, until SIGTERM or its parent exits."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    from supportes.api.app import create_app
    from supportes.logs import configure_logging
    from supportes.runtime import settle_heap, tune_for_serving
    from supportes.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m supportes.bench.api_bench serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bare-file", type=Path, required=True)
    parser.add_argument("--max-seconds", type=float, default=SERVER_MAX_S)
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    tune_for_serving()  # as ApiServer does
    app: FastAPI = create_app(settings)
    bare: list[bytes] = []

    @app.get("/bare", include_in_schema=False)
    async def bare_endpoint() -> Response:  # the app's ceiling: no threadpool, auth or query
        if not bare:
            try:
                bare.append(args.bare_file.read_bytes())
            except FileNotFoundError:
                return Response(b'{"bare":"not yet"}', media_type="application/json")
        return Response(bare[0], media_type="application/json")

    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds

    def watch() -> None:
        settled = False
        while os.getppid() == parent and time.monotonic() < deadline:
            if server.started and not settled:
                settle_heap()  # as ApiServer does
                settled = True
            time.sleep(1.0)
        server.should_exit = True

    threading.Thread(target=watch, daemon=True, name="bench-watchdog").start()
    server.run()
    return 0


def issued_token(dsn: str, tokens: dict[str, str], principal_id: str, roles: Sequence[str]) -> str:
    """An API token for ``principal_id``, created once (committed) and kept in ``tokens``."""
    from supportes.auth import create_token

    if principal_id not in tokens:
        conn = connect(dsn)
        try:
            tokens[principal_id] = create_token(conn, principal_id, roles).secret
            conn.commit()
        finally:
            conn.close()
    return tokens[principal_id]


def free_port() -> int:
    """A free TCP port on the loopback address (for a child server to listen on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Corner:
    """A scratch corner with a ``supportes serve`` process and the benchmark's API process."""

    settings: Settings
    dsn: str
    base_url: str
    bare_file: Path
    serve_log: Path
    api_log: Path
    serve: subprocess.Popen[bytes]
    api: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, principal_id: str, roles: Sequence[str]) -> str:
        """An API token for ``principal_id`` (created once, committed)."""
        return issued_token(self.dsn, self.tokens, principal_id, roles)


def child_env(scratch: Settings, dsn: str, directory: Path) -> dict[str, str]:
    """The environment pointing a child at the corner, with every component's Kafka credentials
    in a file when the cluster uses SASL (as the test suite's subprocesses get them)."""
    env = {
        **os.environ,
        "SUPPORTES_KAFKA_BOOTSTRAP": scratch.bootstrap_servers,
        "SUPPORTES_KAFKA_SECURITY_PROTOCOL": security_protocol(scratch),
        "SUPPORTES_TOPIC_PREFIX": scratch.topic_prefix,
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_LOG_LEVEL": os.environ.get("BENCH_WRITER_LOG_LEVEL", "warning"),
        "SUPPORTES_API_RATE_PER_S": RATE_UNLIMITED,
        "SUPPORTES_API_RATE_BURST": RATE_UNLIMITED,
    }
    if security_protocol(scratch).startswith("SASL_"):
        path = write_credentials_file(scratch, directory / "kafka.json")
        env["SUPPORTES_KAFKA_CREDENTIALS_FILE"] = str(path)
    return env


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return lines[-1][:300] if lines else ""


def _wait_listening(corner: Corner) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for name, process, log_path in (
            ("supportes serve", corner.serve, corner.serve_log),
            ("API", corner.api, corner.api_log),
        ):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}): {last_line(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{corner.base_url}/bare", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"the API did not answer within {STARTUP_TIMEOUT_S:g}s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a child and wait for it (SIGKILL when it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def api_corner(settings: Settings, *, projector: bool) -> Iterator[Corner]:
    """Scratch topics and database, ``supportes serve --writer [--projector]`` and the API
    process on a free loopback port; everything stopped and removed afterwards."""
    with (
        scratch_topics(settings) as scratch_kafka,
        scratch_database(settings) as dsn,
        tempfile.TemporaryDirectory(prefix="supportes-api-bench-") as temp,
    ):
        scratch = scratch_kafka.model_copy(update={"pg_dsn": dsn})
        migrate_database(dsn)
        directory = Path(temp)
        env = child_env(scratch, dsn, directory)
        bin_dir = Path(sys.executable).parent
        roles = ["--writer", "--projector"] if projector else ["--writer"]
        logs = Path(os.environ.get("TMPDIR", "/tmp"))
        serve_log = logs / f"{scratch.topic_prefix}-serve.log"
        api_log = logs / f"{scratch.topic_prefix}-api.log"
        port = free_port()
        bare_file = directory / "bare.json"
        serve = _spawn(
            [
                str(bin_dir / "supportes"),
                "serve",
                *roles,
                "--group-id",
                f"{scratch.topic_prefix}-writer",
            ],
            env,
            serve_log,
        )
        try:
            api = _spawn(
                [
                    sys.executable,
                    "-m",
                    "supportes.bench.api_bench",
                    "serve",
                    "--port",
                    str(port),
                    "--bare-file",
                    str(bare_file),
                ],
                env,
                api_log,
            )
            try:
                corner = Corner(
                    scratch,
                    dsn,
                    f"http://{LOOPBACK}:{port}",
                    bare_file,
                    serve_log,
                    api_log,
                    serve,
                    api,
                )
                _wait_listening(corner)
                yield corner
            finally:
                stop_process(api)
        finally:
            stop_process(serve)


def timed_us(call: Callable[[], object], calls: int = TIMING_CALLS) -> float:
    """Median microseconds of ``call`` over ``calls`` calls (after one untimed call)."""
    call()
    spent: list[float] = []
    for _ in range(calls):
        began = time.perf_counter()
        call()
        spent.append(time.perf_counter() - began)
    return percentile(spent, 50) * 1e6


def _auth_us(corner: Corner, token: str) -> float:
    """What the API's token check costs per request (the same Authenticator, in this process)."""
    from supportes.auth import Authenticator

    authenticator = Authenticator(corner.settings)
    try:
        return timed_us(lambda: authenticator.authenticate(f"Bearer {token}"))
    finally:
        authenticator.close()
