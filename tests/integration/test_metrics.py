"""Issue 18: what the writer counts, and the roles' listener (/metrics, /healthz, /readyz)."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
from prometheus_client import REGISTRY

from supportes.client import SupportesClient
from supportes.observability.readiness import Readiness, kafka_reachable, postgresql_reachable
from supportes.observability.server import MetricsServer
from supportes.settings import PgComponent
from tests.conftest import Isolated
from tests.support.commands import command, open_case
from tests.support.log import running_writer


def _commands(kind: str, outcome: str, code: str = "") -> float:
    labels = {"type": kind, "outcome": outcome, "code": code}
    return REGISTRY.get_sample_value("supportes_commands_total", labels) or 0.0


def _transactions(result: str) -> float:
    return (
        REGISTRY.get_sample_value("supportes_writer_transactions_total", {"result": result}) or 0.0
    )


def test_the_writer_counts_each_command_once_by_type_and_outcome(isolated: Isolated) -> None:
    settings = isolated.settings
    cases = [str(uuid.uuid4()) for _ in range(5)]
    opened = [open_case(case) for case in cases]
    unknown_case = command("Acknowledge", str(uuid.uuid4()), minutes=1)  # no such case
    invalid = command("RateSatisfaction", cases[0], {"score": 9})  # dead-lettered: bad payload
    before = {
        "accepted": _commands("OpenCase", "accepted"),
        "duplicate": _commands("OpenCase", "duplicate"),
        "rejected": _commands("Acknowledge", "rejected", "not_found"),
        "committed": _transactions("committed"),
    }
    dead_before = _dead_lettered()
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit([*opened, unknown_case, invalid], timeout_s=60)
        again = client.submit(opened[:2], timeout_s=60)  # answered again: duplicates
    assert [r["status"] for r in results[:5]] == ["accepted"] * 5
    assert results[5]["error"]["code"] == "not_found"
    assert [r["status"] for r in again] == ["accepted", "accepted"]
    assert _commands("OpenCase", "accepted") - before["accepted"] == 5
    assert _commands("OpenCase", "duplicate") - before["duplicate"] == 2
    assert _commands("Acknowledge", "rejected", "not_found") - before["rejected"] == 1
    assert _dead_lettered() - dead_before == 1
    assert _transactions("committed") > before["committed"]
    owned = REGISTRY.get_sample_value("supportes_writer_partitions_owned")
    assert owned == settings.partitions  # the running writer held them all until it stopped
    cycles = REGISTRY.get_sample_value("supportes_writer_cycle_duration_seconds_count")
    assert cycles is not None
    assert cycles > 0


def _dead_lettered() -> float:
    total = 0.0
    for family in REGISTRY.collect():
        if family.name == "supportes_commands":
            total += sum(
                s.value
                for s in family.samples
                if s.name == "supportes_commands_total" and s.labels["outcome"] == "dead_lettered"
            )
    return total


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_the_listener_answers_metrics_health_and_readiness(isolated: Isolated) -> None:
    settings = isolated.settings
    dsn = settings.dsn_for(PgComponent.WRITER)
    server = MetricsServer("127.0.0.1:0", Readiness(settings, dsn, {"writer": lambda: "ok"}))
    server.start()
    base = f"http://{server.address}"
    try:
        metrics = httpx.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "supportes_writer_transactions_total" in metrics.text
        assert httpx.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgresql": "ok", "kafka": "ok", "writer": "ok"}
        assert httpx.get(f"{base}/nope", timeout=10).status_code == 404
    finally:
        server.close()


def test_readiness_fails_for_each_unreachable_dependency_and_a_role_not_ready(
    isolated: Isolated,
) -> None:
    settings = isolated.settings
    dead_port = _closed_port()
    assert kafka_reachable(f"127.0.0.1:{dead_port}", timeout_s=1) == "unreachable"
    bad_dsn = f"postgresql://nobody@127.0.0.1:{dead_port}/none?connect_timeout=1"
    assert postgresql_reachable(bad_dsn, timeout_s=1) == "unreachable"
    no_kafka = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{dead_port}"})
    dsn = settings.dsn_for(PgComponent.WRITER)
    for readiness, failing in (
        (Readiness(settings, bad_dsn), "postgresql"),
        (Readiness(no_kafka, dsn), "kafka"),
        (Readiness(settings, dsn, {"writer": lambda: "joining its group"}), "writer"),
    ):
        server = MetricsServer("127.0.0.1:0", readiness)
        server.start()
        try:
            began = time.monotonic()
            answer = httpx.get(f"http://{server.address}/readyz", timeout=30)
            assert time.monotonic() - began < 10  # each probe is bounded
            assert answer.status_code == 503, answer.text
            body = json.loads(answer.text)
            assert body["status"] == "unavailable"
            assert body["checks"][failing] != "ok"
            assert [k for k, v in body["checks"].items() if v != "ok"] == [failing]
        finally:
            server.close()
