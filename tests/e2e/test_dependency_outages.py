"""Dependency outages are ridden out (issue 14): one ``supportes serve`` on a private stack, a
steady trickle of commands, and PostgreSQL stopped (immediate mode) for 30 s, the broker stopped
for 60 s, the broker SIGSTOPped for 20 s. After each, the same process (never restarted) has
answered every command sent during and after the outage exactly once, the projections reach the
log's end, and log, index and projections agree (``audit verify`` exit 0); the writer and
projector roles' ``/readyz`` (``SUPPORTES_METRICS_LISTEN``) answers 503 during each stop and 200
after it. Last, SIGTERM while PostgreSQL is down ends serve with exit 0 within the graceful-stop
bound."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from supportes.messaging.clients import Component, plain_producer
from supportes.messaging.routing import key_of, partition_for
from supportes.settings import Settings, load_settings
from supportes.stack import kafka_local, postgres_local, processes
from supportes.stack.layout import kafka_paths, postgres_paths
from supportes.stack.serve_process import STOP_GRACE_S
from tests.e2e.cli import free_port, run_cli, scratch_stack_env, spawn_cli, wait_for_file
from tests.support.commands import command, open_case
from tests.support.log import read_topic


@dataclass
class Scratch:
    """A private stack and the one serve process every outage of this module hits."""

    env: dict[str, str]
    settings: Settings
    serve: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scratch]:
    home = Path.cwd() / ".local" / "scratch" / f"outage-{uuid.uuid4().hex[:8]}"
    env = {**scratch_stack_env(home), "SUPPORTES_METRICS_LISTEN": f"127.0.0.1:{free_port()}"}
    try:
        up = run_cli("stack", "up", env=env, timeout_s=300)
        assert up.returncode == 0, up.stderr
        settings = load_settings(
            home=home,
            kafka_port=int(env["SUPPORTES_KAFKA_PORT"]),
            kafka_controller_port=int(env["SUPPORTES_KAFKA_CONTROLLER_PORT"]),
            pg_port=int(env["SUPPORTES_PG_PORT"]),
            kafka_heap="384m",
        )
        log = tmp_path_factory.mktemp("outages") / "serve.log"  # kept after the run
        ready = home / "serve.ready-under-test"
        serve = spawn_cli("serve", "--ready-file", str(ready), env=env, log=log)
        wait_for_file(ready, serve)
        yield Scratch(env, settings, serve, log)
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
    finally:
        run_cli("stack", "down", env=env, timeout_s=180)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Trickle:
    """Sends a command every ``every_s`` on its own thread: opens new cases and records a
    contact on the previous one. ``sent`` holds the ids the producer acknowledged."""

    settings: Settings
    every_s: float = 0.1
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=300)

    def _run(self) -> None:
        # Buffer through an outage: a record waits up to 5 minutes for the broker to be back.
        producer = plain_producer(
            self.settings, Component.API, delivery_timeout_ms=300_000, max_block_ms=300_000
        )
        pending: list[tuple[str, Any]] = []
        previous: str | None = None
        minute = 0.0
        try:
            while not self._stop.is_set():
                case_id = str(uuid.uuid4())
                minute += 0.01
                batch = [open_case(case_id, minute)]
                if previous is not None:
                    batch.append(
                        command(
                            "RecordContact",
                            previous,
                            {"direction": "inbound", "channel": "chat", "summary": "any news?"},
                            minutes=minute,
                        )
                    )
                previous = case_id
                for envelope in batch:
                    pending.append(
                        (
                            envelope["command_id"],
                            producer.send(
                                self.settings.topic("commands"),
                                key=key_of(envelope["aggregate_id"]),
                                value=json.dumps(envelope).encode(),
                                partition=partition_for(
                                    envelope["aggregate_id"], self.settings.partitions
                                ),
                            ),
                        )
                    )
                self._stop.wait(self.every_s)
            producer.flush(timeout=300)
        finally:
            for command_id, future in pending:
                try:
                    future.get(timeout=300)
                    self.sent.append(command_id)
                except Exception:
                    self.failed.append(command_id)
            producer.close(timeout=10)


def results_of(settings: Settings, wanted: set[str], timeout_s: float) -> Counter[str]:
    """How many results each of ``wanted`` has on the log, once all have one (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = Counter(
            v["command_id"]
            for *_, v in read_topic(settings, "results")
            if isinstance(v, dict) and v.get("command_id") in wanted
        )
        if set(counts) >= wanted or time.monotonic() > deadline:
            return counts
        time.sleep(2)


def ride_out(scratch: Scratch, outage: Callable[[], None]) -> None:
    """Trickle through ``outage`` (which returns once the dependency is back), then check."""
    trickle = Trickle(scratch.settings)
    trickle.start()
    time.sleep(3)
    outage()
    time.sleep(5)
    trickle.stop()
    assert scratch.serve.poll() is None, "serve exited during the outage"
    assert trickle.failed == []
    assert len(trickle.sent) > 100
    counts = results_of(scratch.settings, set(trickle.sent), timeout_s=240)
    missing = set(trickle.sent) - set(counts)
    assert not missing, f"{len(missing)} of {len(trickle.sent)} commands got no result"
    assert set(counts.values()) == {1}, "a command was answered more than once"
    events = [e for *_, e in read_topic(scratch.settings, "events") if isinstance(e, dict)]
    opened = Counter(e["aggregate_id"] for e in events if e["type"] == "CaseOpened")
    assert set(opened.values()) == {1}, "a case was opened twice"
    waited = run_cli("projections", "wait", "--timeout", "240", env=scratch.env, timeout_s=300)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    verified = run_cli("audit", "verify", env=scratch.env, timeout_s=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert scratch.serve.poll() is None


def serve_log_since(scratch: Scratch, offset: int) -> list[dict[str, Any]]:
    lines = scratch.log.read_bytes()[offset:].decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def stop_postgres_immediately(settings: Settings) -> None:
    bindir = postgres_local.find_bindir()
    stopped = subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bindir / "pg_ctl"), "-D",
         str(postgres_paths(settings).data), "-m", "immediate", "-w", "stop"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr


def stack_up(scratch: Scratch) -> None:
    up = run_cli("stack", "up", env=scratch.env, timeout_s=300)
    assert up.returncode == 0, up.stderr


def serve_status(scratch: Scratch) -> str:
    status = run_cli("stack", "status", "--json", env=scratch.env)
    return str(next(c for c in json.loads(status.stdout) if c["component"] == "serve")["detail"])


def test_postgres_stopped_for_30_s(scratch: Scratch) -> None:
    offset = scratch.log.stat().st_size
    seen: list[str] = []
    probes: list[tuple[int, dict[str, Any]]] = []

    def outage() -> None:
        stop_postgres_immediately(scratch.settings)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(2)
            seen.append(serve_status(scratch))
            probes.append(readiness(roles_url(scratch)))
        stack_up(scratch)

    ride_out(scratch, outage)
    assert any("waiting for postgresql" in detail for detail in seen), seen
    assert probes
    assert all(status == 503 for status, _ in probes), probes
    assert all(body["checks"]["postgresql"] == "unreachable" for _, body in probes), probes
    assert readiness(roles_url(scratch))[0] == 200
    retries = [
        line for line in serve_log_since(scratch, offset)
        if line.get("event") == "waiting for a dependency"
        and line.get("dependency") == "postgresql"
    ]  # fmt: skip
    assert retries
    assert all(line.get("next_attempt_at") and line.get("role") for line in retries)


def test_broker_stopped_for_60_s(scratch: Scratch) -> None:
    offset = scratch.log.stat().st_size
    probes: list[tuple[int, dict[str, Any]]] = []

    def outage() -> None:
        assert kafka_local.stop(scratch.settings)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(5)
            probes.append(readiness(roles_url(scratch)))
        stack_up(scratch)

    ride_out(scratch, outage)
    assert probes
    assert all(status == 503 for status, _ in probes), probes
    assert all(body["checks"]["kafka"] == "unreachable" for _, body in probes), probes
    status, body = readiness(roles_url(scratch))
    assert status == 200, body
    assert body["checks"]["projector_lag_events"] == 0
    retries = [
        line for line in serve_log_since(scratch, offset)
        if line.get("event") == "waiting for a dependency" and line.get("dependency") == "kafka"
    ]  # fmt: skip
    assert retries


def test_broker_paused_for_20_s(scratch: Scratch) -> None:
    def outage() -> None:
        pid = processes.read_pid(kafka_paths(scratch.settings).pid_file)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(20)
        finally:
            os.kill(pid, signal.SIGCONT)

    ride_out(scratch, outage)


def api_url(scratch: Scratch) -> str:
    """The address serve's API listens on (its ``api listening`` log line; port 0 was asked)."""
    for line in serve_log_since(scratch, 0):
        if line.get("event") == "api listening":
            return f"http://{line['listen']}"
    raise AssertionError("serve never logged where its API listens")


def api_token(scratch: Scratch, principal: str, role: str) -> str:
    made = run_cli(
        "tokens", "create", "--principal", principal, "--role", role, "--json", env=scratch.env
    )
    assert made.returncode == 0, made.stderr
    return str(json.loads(made.stdout)["secret"])


def roles_url(scratch: Scratch) -> str:
    """Where the writer and projector roles answer /metrics, /healthz and /readyz."""
    return f"http://{scratch.env['SUPPORTES_METRICS_LISTEN']}"


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{base}/readyz", timeout=30)
    return answer.status_code, answer.json()


def test_api_answers_503_while_postgres_is_down_and_recovers(scratch: Scratch) -> None:
    base = api_url(scratch)
    agent = {"Authorization": f"Bearer {api_token(scratch, 'agent:outage', 'agent')}"}
    unknown = f"{base}/v1/cases/{uuid.uuid4()}"
    assert httpx.get(unknown, headers=agent, timeout=30).status_code == 404
    console = {"Cookie": console_session(base, agent["Authorization"][7:]), "Accept": "text/html"}
    assert httpx.get(f"{base}/console/cases", headers=console, timeout=30).status_code == 200
    stop_postgres_immediately(scratch.settings)
    try:
        read = httpx.get(unknown, headers=agent, timeout=60)
        assert read.status_code == 503, read.text  # not 404: the lookup could not be made
        assert read.json()["error"]["code"] == "unavailable"
        page = httpx.get(f"{base}/console/cases", headers=console, timeout=60)
        assert page.status_code == 503, page.text  # a page saying so, not a sign-out
        assert "PostgreSQL is unavailable" in page.text
        status, body = readiness(base)
        assert status == 503
        assert body["checks"]["postgres"] == "unreachable"
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200  # alive all along
    finally:
        stack_up(scratch)
    wait_for_answer = time.monotonic() + 60
    while httpx.get(unknown, headers=agent, timeout=30).status_code != 404:
        assert time.monotonic() < wait_for_answer, "the API did not recover from the outage"
        time.sleep(1)
    assert readiness(base)[0] == 200
    assert httpx.get(f"{base}/console/cases", headers=console, timeout=30).status_code == 200


def console_session(base: str, token: str) -> str:
    """A console session cookie (``name=value``) signed in with ``token`` through the form."""
    with httpx.Client(base_url=base, timeout=30) as http:
        form = http.get("/console/sign-in")
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found is not None
        csrf_cookie = form.headers["set-cookie"].split(";")[0]
        answer = http.post(
            "/console/sign-in",
            data={"token": token, "csrf_token": found.group(1)},
            headers={"Cookie": csrf_cookie},
        )
        assert answer.status_code == 303, answer.text
        (session,) = [
            c.split(";")[0]
            for c in answer.headers.get_list("set-cookie")
            if c.startswith("__Host-supportes_console=")
        ]
        return session


def test_api_keeps_a_command_sent_while_the_broker_is_down(scratch: Scratch) -> None:
    base = api_url(scratch)
    mail = {"Authorization": f"Bearer {api_token(scratch, 'integration:outage', 'integration')}"}
    body = {
        "type": "OpenCase",
        "aggregate_id": str(uuid.uuid4()),
        "payload": {
            "customer_id": "customer:07001",
            "channel": "email",
            "subject": "Sent while the broker was down",
            "description": "It must be answered once the broker is back.",
        },
        "on_behalf_of": "customer:07001",
    }
    assert kafka_local.stop(scratch.settings)
    try:
        sent = httpx.post(f"{base}/v1/commands", json=body, headers=mail, timeout=120)
        assert sent.status_code == 202, sent.text  # on its way; the result is not in yet
        location = sent.headers["Location"]
        command_id = sent.json()["command_id"]
        assert location == f"/v1/commands/{command_id}"
        deadline = time.monotonic() + 30
        while readiness(base)[0] != 503:
            assert time.monotonic() < deadline, "readyz kept saying ready without a broker"
            time.sleep(1)
        assert readiness(base)[1]["checks"]["kafka"] == "unreachable"
    finally:
        stack_up(scratch)
    deadline = time.monotonic() + 180
    while (answer := httpx.get(f"{base}{location}", headers=mail, timeout=30)).status_code != 200:
        assert answer.status_code == 404, answer.text  # not processed yet
        assert time.monotonic() < deadline, f"the command sent during the outage: {answer.text}"
        time.sleep(2)
    result = answer.json()
    assert result["status"] == "accepted"
    assert result["aggregate_id"] == body["aggregate_id"]
    counts = results_of(scratch.settings, {command_id}, timeout_s=60)
    assert counts == Counter({command_id: 1})  # answered exactly once
    assert readiness(base)[0] == 200


def test_the_consoles_log_check_answers_503_while_the_broker_is_down(scratch: Scratch) -> None:
    base = api_url(scratch)
    mail = {"Authorization": f"Bearer {api_token(scratch, 'integration:check', 'integration')}"}
    case_id = str(uuid.uuid4())
    sent = httpx.post(
        f"{base}/v1/commands",
        json={
            "type": "OpenCase",
            "aggregate_id": case_id,
            "payload": {
                "customer_id": "customer:07002",
                "channel": "email",
                "subject": "A case to check against the log",
                "description": "Checked with the broker up, down, and up again.",
            },
            "on_behalf_of": "customer:07002",
        },
        headers=mail,
        timeout=60,
    )
    assert sent.status_code in (201, 202), sent.text  # decided, or on its way
    if sent.status_code == 202:
        result_url = f"{base}{sent.headers['Location']}"
        deadline = time.monotonic() + 120
        while httpx.get(result_url, headers=mail, timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the case was never opened"
            time.sleep(1)
    cookie = console_session(base, api_token(scratch, "auditor:check", "auditor"))
    page = httpx.get(f"{base}/console/cases/{case_id}", headers={"Cookie": cookie}, timeout=30)
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    check = {"Cookie": cookie, "X-CSRF-Token": found.group(1), "Accept": "application/json"}
    verify = f"{base}/console/cases/{case_id}/verify"

    def answer() -> httpx.Response:
        return httpx.post(verify, headers=check, timeout=90)

    first = answer()
    assert first.status_code == 200, first.text
    assert first.json()["ok"] is True
    assert kafka_local.stop(scratch.settings)
    try:
        down = answer()
        assert down.status_code == 503, down.text  # not a 500, nor a badge saying "differs"
        error = down.json()["error"]
        assert error["code"] == "unavailable"
        assert "Kafka" in error["message"]
    finally:
        stack_up(scratch)
    deadline = time.monotonic() + 120
    while (again := answer()).status_code != 200:
        assert again.status_code == 503, again.text
        assert time.monotonic() < deadline, "the log check did not recover with the broker"
        time.sleep(2)
    assert again.json()["ok"] is True


def test_sigterm_while_postgres_is_stopped_exits_0_within_the_bound(scratch: Scratch) -> None:
    trickle = Trickle(scratch.settings)
    trickle.start()
    try:
        time.sleep(2)
        stop_postgres_immediately(scratch.settings)
        deadline = time.monotonic() + 60
        while "waiting for postgresql" not in serve_status(scratch):
            assert time.monotonic() < deadline, "serve never reported waiting for postgresql"
            time.sleep(1)
        began = time.monotonic()
        scratch.serve.send_signal(signal.SIGTERM)
        code = scratch.serve.wait(timeout=STOP_GRACE_S + 30)
        took = time.monotonic() - began
    finally:
        trickle.stop()
        stack_up(scratch)
    assert code == 0
    assert took < STOP_GRACE_S, f"serve took {took:.1f}s to stop"
