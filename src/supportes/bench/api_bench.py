"""Benchmarks of the HTTP API: reads under ``wrk``, and submit -> result latency through HTTP.

Both run against a private corner of the stack (scratch topics and database, as the writer
benchmarks): a ``supportes serve`` process (writer, and projector for the reads) and an API
process serving :func:`~supportes.api.app.create_app` plus one extra route, ``GET /bare``,
that answers a fixed JSON body with no auth and no database (``python -m
supportes.bench.api_bench serve``; it exits by itself when this process goes away).

- ``api-read``: ``wrk`` (loopback, bounded) on ``GET /v1/cases/{id}`` with an agent token and,
  in the same run, on ``GET /bare`` answering the very bytes of that case's body; requests/s,
  p99 and the ratio of the two.
- ``api-submit-latency``: after the writer benchmark's warm-up, commands at a steady rate
  through ``POST /v1/commands`` (several keep-alive HTTP connections, open loop) and through
  the Kafka client (:class:`~supportes.client.SupportesClient`, timed from send to the result
  read, as ``writer-latency``), in alternating windows of the same run so that a slow moment
  of this shared machine falls on both paths alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson

from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.stats import percentile
from supportes.bench.writer_bench import (
    LATENCY_WINDOWS,
    WARM_UP_COMMANDS,
    _collect_results,
    _warm_up,
)
from supportes.client import SupportesClient
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.security import security_protocol, write_credentials_file
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

LOOPBACK = "127.0.0.1"
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_WARM_UP_S = 3
POOLED = 8
"""Connections of the extra case run: within the API's pools (the Authenticator keeps 8 idle
PostgreSQL connections, ``SUPPORTES_API_DB_CONNECTIONS`` 8), beyond which a request opens and
closes a connection of its own."""
HTTP_CONNECTIONS = 32
"""Keep-alive connections of the HTTP submitter (open loop: a command waits for a free one)."""
HTTP_TIMEOUT_S = 30.0
"""Deadline of one HTTP command (pool wait, send, answer): a command not answered by then
counts as failed (status 0)."""
MAX_BACKLOG_S = 2.0
"""An HTTP command is skipped (counted) while this many seconds' worth are unanswered: an API
that cannot keep up is reported as such, and the run stays bounded."""
HTTP_WARM_UP_COMMANDS = 1000
RATE_UNLIMITED = "1000000"
"""The benchmark's API process lifts the per-principal rate limit (200/s by default) so that
one token's load is measured, not refused; the limiter is still consulted per request."""
STARTUP_TIMEOUT_S = 90.0
SERVER_MAX_S = 1800.0
"""The API process exits by itself after this long, or as soon as its parent is gone."""
INTEGRATION = "integration:bench"
TIMING_CALLS = 500


# -- wrk output -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkRun:
    """What one ``wrk --latency`` run printed."""

    requests: int
    seconds: float
    requests_per_s: float
    latency_avg_ms: float
    latency_max_ms: float
    percentiles_ms: dict[int, float]
    socket_errors: int = 0
    non_2xx: int = 0
    read_bytes: float = 0.0

    @property
    def p50_ms(self) -> float:
        return self.percentiles_ms[50]

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms[99]


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_COUNT_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def wrk_time_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``4.13ms``, ``1.02s``, ``2.00m``) in milliseconds."""
    found = re.fullmatch(_TIME, text.strip())
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * _TIME_UNITS_MS[found.group(2)]


def wrk_count(text: str) -> float:
    """A wrk count (``597.70``, ``1.03k``, ``2.10M``)."""
    found = re.fullmatch(r"([\d.]+)([kMG]?)", text.strip())
    if found is None:
        raise ValueError(f"not a wrk count: {text!r}")
    return float(found.group(1)) * _COUNT_UNITS[found.group(2)]


def wrk_size(text: str) -> float:
    """A wrk size (``604.32KB``, ``1.18MB``) in bytes."""
    found = re.fullmatch(r"([\d.]+)([KMGT]?B?)", text.strip())
    if found is None:
        raise ValueError(f"not a wrk size: {text!r}")
    return float(found.group(1)) * _SIZE_UNITS[found.group(2)]


def parse_wrk(output: str) -> WrkRun:
    """The figures of ``wrk --latency`` output; ValueError naming what is missing."""

    def need(pattern: str, what: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise ValueError(f"wrk output has no {what}: {output.strip()[:400]!r}")
        return found

    latency = need(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", "Latency thread stats")
    total = need(rf"^\s*(\d+) requests in {_TIME},\s+([\d.]+[KMGT]?B) read", "'N requests in' line")
    rate = need(r"^Requests/sec:\s+([\d.]+)", "Requests/sec")
    distribution = {
        int(m.group(1)): wrk_time_ms(m.group(2) + m.group(3))
        for m in re.finditer(rf"^\s+(\d+)%\s+{_TIME}\s*$", output, re.MULTILINE)
    }
    if 50 not in distribution or 99 not in distribution:
        raise ValueError("wrk output has no latency distribution (run it with --latency)")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkRun(
        requests=int(total.group(1)),
        seconds=wrk_time_ms(total.group(2) + total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        latency_avg_ms=wrk_time_ms(latency.group(1) + latency.group(2)),
        latency_max_ms=wrk_time_ms(latency.group(5) + latency.group(6)),
        percentiles_ms=distribution,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        read_bytes=wrk_size(total.group(4)),
    )


def wrk_command(
    url: str, *, seconds: int, token: str | None, connections: int = WRK_CONNECTIONS
) -> list[str]:
    """The bounded loopback ``wrk`` command line (ValueError for a non-loopback URL)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"wrk runs on loopback only, not {url}")
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    return [*command, url]


def run_wrk(
    url: str, *, seconds: int, token: str | None = None, connections: int = WRK_CONNECTIONS
) -> WrkRun:
    """Run wrk once (killed if it overruns by 30 s) and parse what it printed."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`: make setup installs it)")
    done = subprocess.run(
        wrk_command(url, seconds=seconds, token=token, connections=connections),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[:300]}")
    return parse_wrk(done.stdout)


# -- the API process ----------------------------------------------------------------------------


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``python -m supportes.bench.api_bench serve --port N --bare-file F``: the API of the
    environment's settings plus ``GET /bare``, on loopback, until SIGTERM or its parent exits."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    from supportes.api.app import create_app
    from supportes.logs import configure_logging
    from supportes.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m supportes.bench.api_bench serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bare-file", type=Path, required=True)
    parser.add_argument("--max-seconds", type=float, default=SERVER_MAX_S)
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
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
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(1.0)
        server.should_exit = True

    threading.Thread(target=watch, daemon=True, name="bench-watchdog").start()
    server.run()
    return 0


def _free_port() -> int:
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
        from supportes.auth import create_token

        if principal_id not in self.tokens:
            conn = connect(self.dsn)
            try:
                self.tokens[principal_id] = create_token(conn, principal_id, roles).secret
                conn.commit()
            finally:
                conn.close()
        return self.tokens[principal_id]


def _child_env(scratch: Settings, dsn: str, directory: Path) -> dict[str, str]:
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


def _last_line(path: Path) -> str:
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
                raise RuntimeError(f"{name} exited ({process.returncode}): {_last_line(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{corner.base_url}/bare", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"the API did not answer within {STARTUP_TIMEOUT_S:g}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
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
        env = _child_env(scratch, dsn, directory)
        bin_dir = Path(sys.executable).parent
        roles = ["--writer", "--projector"] if projector else ["--writer"]
        logs = Path(os.environ.get("TMPDIR", "/tmp"))
        serve_log = logs / f"{scratch.topic_prefix}-serve.log"
        api_log = logs / f"{scratch.topic_prefix}-api.log"
        port = _free_port()
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
                _stop(api)
        finally:
            _stop(serve)


def _timed_us(call: Callable[[], object], calls: int = TIMING_CALLS) -> float:
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
        return _timed_us(lambda: authenticator.authenticate(f"Bearer {token}"))
    finally:
        authenticator.close()


# -- api-read -----------------------------------------------------------------------------------


def _http_command(
    client: httpx.Client, token: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/v1/commands", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    document: dict[str, Any] = response.json()
    return response.status_code, document


def _open_case(corner: Corner, token: str) -> tuple[str, int]:
    """Open one realistic case through HTTP and take it a few steps (acknowledge, assign...);
    its id and version once ``proj.case_view`` shows that version."""
    envelopes = list(TrafficGenerator(seed=21, start=datetime.now(UTC)).commands(3000))
    opened = next(e for e in envelopes if e["type"] == "OpenCase")
    case_id = str(opened["aggregate_id"])
    steps = [e for e in envelopes if e["aggregate_id"] == opened["aggregate_id"]]
    version = 0
    with httpx.Client(base_url=corner.base_url) as client:
        for step in steps[:6]:
            body = {"type": step["type"], "aggregate_id": case_id, "payload": step["payload"]}
            status, document = _http_command(client, token, body)
            if status in (200, 201):
                version = int(document["version"])
            elif step is opened:
                raise RuntimeError(f"OpenCase through HTTP answered {status}: {document}")
        deadline = time.monotonic() + 60
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < deadline:
            response = client.get(f"/v1/cases/{case_id}", headers=headers, timeout=10)
            if response.status_code == 200 and response.headers.get("ETag") == f'"{version}"':
                corner.bare_file.write_bytes(response.content)
                return case_id, version
            time.sleep(0.2)
    raise TimeoutError(f"case {case_id} was not projected at version {version} within 60 s")


def _read_costs(corner: Corner, token: str, case_id: str) -> dict[str, float]:
    """Microseconds per request of the case route's parts, timed here on an idle machine."""
    from supportes.api.access import visible_case
    from supportes.api.encoding import json_response
    from supportes.auth import Authenticator
    from supportes.ops.case_lookup import resolve_aggregate_id

    authenticator = Authenticator(corner.settings)
    try:
        caller = authenticator.authenticate(f"Bearer {token}")
        auth = _timed_us(lambda: authenticator.authenticate(f"Bearer {token}"))
    finally:
        authenticator.close()
    conn = connect(corner.dsn)
    try:
        conn.set_session(readonly=True, autocommit=True)

        def read() -> dict[str, Any]:
            return visible_case(conn, caller, resolve_aggregate_id(conn, case_id))

        pg = _timed_us(read)
        row = read()
    finally:
        conn.close()
    encode = _timed_us(lambda: json_response(row, headers={"ETag": '"1"'}))
    return {"auth": auth, "pg": pg, "encode": encode}


def api_read(settings: Settings, seconds: int) -> Result:
    """wrk on one case and on the bare endpoint of the same API process, same run."""
    name = "api-read"
    result = Result(
        name,
        params={"threads": WRK_THREADS, "connections": WRK_CONNECTIONS, "seconds": seconds},
    )
    with api_corner(settings, projector=True) as corner:
        token = corner.token("agent:bench-reader", ["agent"])
        case_id, version = _open_case(corner, token)
        case_url = f"{corner.base_url}/v1/cases/{case_id}"
        bare_url = f"{corner.base_url}/bare"
        run_wrk(case_url, seconds=WRK_WARM_UP_S, token=token)
        run_wrk(bare_url, seconds=WRK_WARM_UP_S)
        case = run_wrk(case_url, seconds=seconds, token=token)
        bare = run_wrk(bare_url, seconds=seconds)
        pooled = run_wrk(case_url, seconds=seconds, token=token, connections=POOLED)
        costs = _read_costs(corner, token, case_id)
        body_bytes = corner.bare_file.stat().st_size
    for label, run in (("case", case), ("bare", bare), (f"case -c{POOLED}", pooled)):
        if run.non_2xx or run.socket_errors:
            raise RuntimeError(
                f"wrk on the {label} endpoint: {run.non_2xx} non-2xx answers, "
                f"{run.socket_errors} socket errors"
            )
    how = f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{seconds}s, loopback"
    result.add(
        "case requests",
        case.requests_per_s,
        "req/s",
        f"GET /v1/cases/{{id}}, agent token, {body_bytes:,} B body (v{version}); {how}",
    )
    result.add("case p50", case.p50_ms, "ms")
    result.add("case p99", case.p99_ms, "ms", f"max {case.latency_max_ms:.1f} ms")
    result.add(
        "bare requests",
        bare.requests_per_s,
        "req/s",
        "GET /bare of the same app and process: the same bytes, no auth, no database",
    )
    result.add("bare p50", bare.p50_ms, "ms")
    result.add("bare p99", bare.p99_ms, "ms", f"max {bare.latency_max_ms:.1f} ms")
    result.add(
        f"case requests -c{POOLED}",
        pooled.requests_per_s,
        "req/s",
        f"p50 {pooled.p50_ms:.1f} / p99 {pooled.p99_ms:.1f} ms; {POOLED} connections: no more "
        "requests in flight than the API keeps PostgreSQL connections",
    )
    result.add(
        "ratio to bare",
        100 * case.requests_per_s / bare.requests_per_s,
        "%",
        "target >= 50%",
    )
    per_case = 1e6 / case.requests_per_s
    per_bare = 1e6 / bare.requests_per_s
    result.add(
        "time per request",
        per_case,
        "us",
        f"bare {per_bare:.0f} us: the case route adds {per_case - per_bare:.0f} us",
    )
    result.add(
        "where: token check",
        costs["auth"],
        "us",
        "Authenticator.authenticate (an auth.api_tokens lookup), median, idle machine",
    )
    result.add(
        "where: case read",
        costs["pg"],
        "us",
        "resolve id + proj.case_view row + visibility: 2 queries on one connection",
    )
    result.add("where: encode", costs["encode"], "us", "orjson response of the row")
    return result


# -- api-submit-latency ------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCommand:
    """A command as an HTTP client sends it: the caller's token and the request body."""

    principal: str
    body: bytes
    if_match: str | None


def http_command(envelope: dict[str, Any]) -> HttpCommand:
    """The request for a simulated envelope: an agent's command by that agent; a customer's by
    the channel integration ``on_behalf_of`` it (the API attests actor and time itself)."""
    actor = envelope["actor"]
    body: dict[str, Any] = {
        "type": envelope["type"],
        "aggregate_id": str(envelope["aggregate_id"]),
        "payload": envelope["payload"],
    }
    principal = str(actor["id"])
    if actor["kind"] == "customer":
        body["on_behalf_of"] = principal
        principal = INTEGRATION
    expected = envelope.get("expected_version")
    return HttpCommand(
        principal, orjson.dumps(body), f'"{expected}"' if expected is not None else None
    )


def principal_roles(principal: str) -> list[str]:
    """The roles a simulated principal's token gets: the simulation has any agent write the
    root-cause commands too, so every agent is also a lead."""
    if principal == INTEGRATION:
        return ["integration"]
    return ["agent", "lead"]


@dataclass(frozen=True)
class Sample:
    """One command: when it was sent, its latency, and the HTTP status (0: no answer)."""

    sent: float
    latency: float
    status: int = 0


class HttpLoad:
    """An asyncio loop in a thread with one ``httpx.AsyncClient`` of ``connections``
    keep-alive connections; :meth:`paced` offers commands at a steady rate (open loop)."""

    def __init__(self, base_url: str, tokens: dict[str, str], connections: int) -> None:
        self.tokens = tokens
        self.skipped = 0
        """Commands not sent because :data:`MAX_BACKLOG_S` worth were still unanswered."""
        self.first_errors: dict[int, str] = {}
        """The first answer of each error status (4xx, 5xx), for the notes."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-http", daemon=True)
        self.thread.start()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

        async def make() -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT_S)

        self.client = self._call(make(), 30)

    def _call(self, coroutine: Any, timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    async def _post(self, command: HttpCommand) -> Sample:
        headers = {
            "Authorization": f"Bearer {self.tokens[command.principal]}",
            "Content-Type": "application/json",
        }
        if command.if_match is not None:
            headers["If-Match"] = command.if_match
        sent = time.monotonic()
        try:
            response = await asyncio.wait_for(  # one deadline for pool wait, send and answer
                self.client.post("/v1/commands", content=command.body, headers=headers),
                HTTP_TIMEOUT_S,
            )
            status = response.status_code
            if status >= 400 and status not in self.first_errors:
                self.first_errors[status] = response.text[:160]
        except (httpx.HTTPError, TimeoutError) as exc:
            status = 0
            self.first_errors.setdefault(0, f"{type(exc).__name__}: {exc}"[:160])
        return Sample(sent, time.monotonic() - sent, status)

    async def _paced(
        self, commands: Sequence[HttpCommand], rate_per_s: float, progress: Progress | None
    ) -> list[Sample]:
        interval = 1.0 / rate_per_s
        began = time.monotonic()
        tasks: list[asyncio.Task[Sample]] = []
        backlog = max(HTTP_CONNECTIONS, int(rate_per_s * MAX_BACKLOG_S))
        for index, command in enumerate(commands):
            pause = began + index * interval - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            if progress is not None:
                progress.advance(1)
            if sum(1 for task in tasks[-backlog - 1 :] if not task.done()) >= backlog:
                self.skipped += 1  # the API is that far behind: offering more only queues
                continue
            tasks.append(asyncio.create_task(self._post(command)))
        return list(await asyncio.gather(*tasks))

    def paced(
        self, commands: Sequence[HttpCommand], rate_per_s: float, progress: Progress | None = None
    ) -> list[Sample]:
        """Send ``commands`` at ``rate_per_s``; every sample once all are answered (bounded by
        the client's 30 s timeout per request)."""
        budget = len(commands) / rate_per_s + HTTP_TIMEOUT_S + 60
        future = asyncio.run_coroutine_threadsafe(
            self._paced(commands, rate_per_s, progress), self.loop
        )
        try:
            samples: list[Sample] = future.result(budget)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"HTTP commands still unanswered after {budget:g} s") from None
        return samples

    def close(self) -> None:
        """Close the client, cancel what is still in flight and stop the loop."""
        with contextlib.suppress(Exception):
            self._call(self.client.aclose(), 10)

        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(cancel_all)
        self.thread.join(30)
        if not self.loop.is_running():
            self.loop.close()


def _submit_costs(corner: Corner, token: str, command: HttpCommand) -> dict[str, float]:
    """Microseconds of the submit route's own work, timed here on an idle machine: the token
    check and the attestation (policy, parse and validation of the command)."""
    from supportes.auth import Authenticator
    from supportes.ops.submission import CommandRequest, attest, command_id_for

    authenticator = Authenticator(corner.settings)
    try:
        caller = authenticator.authenticate(f"Bearer {token}")
        auth = _timed_us(lambda: authenticator.authenticate(f"Bearer {token}"))
    finally:
        authenticator.close()
    body = orjson.loads(command.body)
    wanted = CommandRequest(
        type=body["type"],
        aggregate_id=UUID(body["aggregate_id"]),
        payload=body["payload"],
        on_behalf_of=body.get("on_behalf_of"),
    )

    def attest_once() -> object:
        return attest(
            caller, wanted, command_id=command_id_for(caller, None), now=datetime.now(UTC)
        )

    return {"auth": auth, "attest": _timed_us(attest_once)}


def _paced_client(
    client: SupportesClient,
    envelopes: Sequence[dict[str, Any]],
    rate_per_s: float,
    sent_at: dict[str, float],
    progress: Progress,
) -> None:
    """Send ``envelopes`` through the Kafka client at a steady rate, as ``writer-latency`` does
    (each timed from just before its send; the results reader records the answers)."""
    interval = 1.0 / rate_per_s
    began = time.monotonic()
    for number, envelope in enumerate(envelopes):
        pause = began + number * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent_at[envelope["command_id"]] = time.monotonic()
        client.send([envelope], flush=False)
        progress.advance(1)


def _warm_http(
    load: HttpLoad, commands: Sequence[HttpCommand], rate_per_s: float, corner: Corner
) -> None:
    """Send the HTTP warm-up (connections opened, pools filled); RuntimeError when the API
    accepted none of it."""
    samples = load.paced(commands, rate_per_s)
    if not any(s.status in (200, 201) for s in samples):
        statuses = sorted({s.status for s in samples})
        raise RuntimeError(
            f"no command accepted through HTTP (statuses {statuses}): {_last_line(corner.api_log)}"
        )


def segments(windows: int) -> list[tuple[str, int]]:
    """The alternating schedule: (path, window index), ``windows`` windows per path."""
    return [(path, index) for index in range(windows) for path in ("client", "http")]


def api_submit_latency(settings: Settings, rate_per_s: int, duration_s: float) -> Result:
    """Submit -> result at ``rate_per_s`` for ``duration_s`` per path, HTTP and Kafka client in
    alternating windows of one run against one writer process."""
    name = "api-submit-latency"
    windows = LATENCY_WINDOWS
    window_s = duration_s / windows
    per_window = int(rate_per_s * window_s)
    total = per_window * windows
    result = Result(
        name,
        params={
            "rate_per_s": rate_per_s,
            "duration_s": duration_s,
            "windows": windows,
            "http_connections": HTTP_CONNECTIONS,
        },
    )
    generator = TrafficGenerator(seed=7)
    client_envelopes = list(generator.commands(total))
    http_generator = TrafficGenerator(seed=11, start=datetime.now(UTC))
    warm_http = [http_command(e) for e in http_generator.commands(HTTP_WARM_UP_COMMANDS)]
    http_commands = [http_command(e) for e in http_generator.commands(total)]
    sent_at: dict[str, float] = {}
    answered: list[tuple[float, float]] = []
    http_samples: dict[int, list[Sample]] = {}
    client_windows: dict[int, tuple[float, float]] = {}
    offered: dict[str, float] = {"client": 0.0, "http": 0.0}
    with api_corner(settings, projector=False) as corner:
        tokens = {
            principal: corner.token(principal, principal_roles(principal))
            for principal in sorted({c.principal for c in [*warm_http, *http_commands]})
        }
        load = HttpLoad(corner.base_url, tokens, HTTP_CONNECTIONS)
        done = threading.Event()
        try:
            with SupportesClient(corner.settings) as client:
                warm_up_s = _warm_up(client, corner.serve, corner.serve_log)
                _warm_http(load, warm_http, rate_per_s, corner)
                reader = threading.Thread(
                    target=_collect_results,
                    args=(corner.settings, sent_at, answered, total, done),
                    daemon=True,
                )
                reader.start()
                time.sleep(0.5)
                progress = Progress(name, "alternating windows", 2 * total)
                for path, index in segments(windows):
                    began = time.monotonic()
                    if path == "http":
                        chunk = http_commands[index * per_window : (index + 1) * per_window]
                        http_samples[index] = load.paced(chunk, rate_per_s, progress)
                        sent = [sample.sent for sample in http_samples[index]]
                        offered["http"] += max(sent) - min(sent) + 1.0 / rate_per_s
                    else:
                        chunk_envelopes = client_envelopes[
                            index * per_window : (index + 1) * per_window
                        ]
                        _paced_client(client, chunk_envelopes, rate_per_s, sent_at, progress)
                        client_windows[index] = (began, time.monotonic())
                        offered["client"] += time.monotonic() - began
                done.wait(max(30.0, window_s))
                done.set()
                reader.join(30)
                timed = next(c for c in http_commands if c.principal != INTEGRATION)
                costs = _submit_costs(corner, tokens[timed.principal], timed)
        finally:
            done.set()  # the results reader stops within a poll
            load.close()
    _latency_report(
        result,
        answered=answered,
        client_windows=client_windows,
        http_samples=http_samples,
        total=total,
        offered=offered,
        warm_up_s=warm_up_s,
        costs=costs,
        window_s=window_s,
        first_errors=load.first_errors,
        skipped=load.skipped,
    )
    return result


def _latency_report(
    result: Result,
    *,
    answered: list[tuple[float, float]],
    client_windows: dict[int, tuple[float, float]],
    http_samples: dict[int, list[Sample]],
    total: int,
    offered: dict[str, float],
    warm_up_s: float,
    costs: dict[str, float],
    window_s: float,
    first_errors: dict[int, str],
    skipped: int,
) -> None:
    result.add(
        "warm-up",
        warm_up_s,
        "s",
        f"{WARM_UP_COMMANDS:,} commands through the client, then {HTTP_WARM_UP_COMMANDS:,} "
        "through HTTP",
    )
    every_http = [s for index in sorted(http_samples) for s in http_samples[index]]
    good = [s for s in every_http if s.status in (200, 201, 409, 412)]
    statuses: dict[int, int] = {}
    for sample in every_http:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    schedule = ", ".join(f"{p} {i + 1}" for p, i in segments(len(http_samples)))
    result.add(
        "offered (client)", total / offered["client"], "cmd/s", f"{total:,} commands; {schedule}"
    )
    result.add(
        "offered (http)",
        (total - skipped) / offered["http"],
        "cmd/s",
        f"{total - skipped:,} commands, {HTTP_CONNECTIONS} keep-alive connections, open loop",
    )
    result.add(
        "skipped (http)",
        skipped,
        "commands",
        f"not sent while {MAX_BACKLOG_S:g} s worth were unanswered (the API fell behind)",
    )
    result.add("answered (client)", len(answered), "results")
    result.add(
        "answered (http)",
        len(good),
        "results",
        "statuses " + ", ".join(f"{code}: {n:,}" for code, n in sorted(statuses.items())),
    )
    for code, text in sorted(first_errors.items()):
        result.add(f"first {code or 'failed'} answer", statuses.get(code, 0), "answers", text)
    if not answered or not good:
        return
    client_latencies = [latency for _, latency in answered]
    http_latencies = [s.latency for s in good]
    client_p50 = percentile(client_latencies, 50) * 1000
    client_p99 = percentile(client_latencies, 99) * 1000
    http_p50 = percentile(http_latencies, 50) * 1000
    http_p99 = percentile(http_latencies, 99) * 1000
    result.add("client p50", client_p50, "ms", "send -> result read (as writer-latency)")
    result.add("client p99", client_p99, "ms", f"all {len(client_latencies):,} results")
    result.add(
        "client p99 per window",
        max(_client_window_p99s(answered, client_windows)),
        "ms",
        f"worst of {len(client_windows)} x {window_s:g} s: "
        + ", ".join(f"{w:.0f}" for w in _client_window_p99s(answered, client_windows)),
    )
    result.add("http p50", http_p50, "ms", "POST /v1/commands -> its answer (the result)")
    result.add("http p99", http_p99, "ms", f"all {len(http_latencies):,} answers")
    http_windows = [
        percentile([s.latency for s in http_samples[i] if s.status], 99) * 1000
        for i in sorted(http_samples)
        if any(s.status for s in http_samples[i])
    ]
    result.add(
        "http p99 per window",
        max(http_windows),
        "ms",
        f"worst of {len(http_windows)} x {window_s:g} s: "
        + ", ".join(f"{w:.0f}" for w in http_windows),
    )
    result.add(
        "http max",
        max(http_latencies) * 1000,
        "ms",
        f"client max {max(client_latencies) * 1000:.0f} ms",
    )
    result.add("p50 difference", http_p50 - client_p50, "ms", "http - client")
    result.add("p99 difference", http_p99 - client_p99, "ms", "http - client; target <= 15 ms")
    result.add(
        "where: token check",
        costs["auth"],
        "us",
        "Authenticator.authenticate per request (auth.api_tokens lookup), median, idle",
    )
    result.add(
        "where: attest",
        costs["attest"],
        "us",
        "actor, policy, command parse and checks before sending, median, idle",
    )


def _client_window_p99s(
    answered: list[tuple[float, float]], windows: dict[int, tuple[float, float]]
) -> list[float]:
    """The p99 (ms) of the client results sent in each client window, in time order."""
    figures: list[float] = []
    for index in sorted(windows):
        start, end = windows[index]
        inside = [latency for sent, latency in answered if start <= sent <= end]
        if inside:
            figures.append(percentile(inside, 99) * 1000)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m supportes.bench.api_bench serve ...`` (the benchmark's API process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "serve":
        print("usage: python -m supportes.bench.api_bench serve --port N --bare-file F")
        return 2
    return serve_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
