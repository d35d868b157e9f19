"""Issue 18: a real Prometheus (Debian's package) scrapes a running ``supportes serve``.

One serve (writer, projector and API) on a test's corner of the stack answers ``/metrics`` on
``SUPPORTES_METRICS_LISTEN`` and on its API port (one process: the same series on both, so
the queries name the job); Prometheus scrapes both every second. After
commands go through, Prometheus' HTTP API must show ``supportes_commands_total`` grown by exactly
the number of commands sent, and the projector's lag back at 0.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supportes.client import SupportesClient
from tests.conftest import Isolated
from tests.e2e.cli import free_port
from tests.e2e.serving import start_serve
from tests.support.commands import command, open_case

pytestmark = pytest.mark.timeout(300)

COMMANDS = 120
JOB = 'job="supportes-roles"'
ROLES_COMMANDS = f"sum(supportes_commands_total{{{JOB}}})"


def _prometheus_binary() -> str:
    found = shutil.which("prometheus")
    assert found, "prometheus is missing: deploy/ensure-system-deps.sh installs it (as root)"
    return found


def _scrape_config(targets: dict[str, str]) -> str:
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        for job, target in targets.items()
    )
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n{jobs}"


@pytest.fixture
def prometheus_and_serve(isolated: Isolated, tmp_path: Path) -> Iterator[str]:
    """Serve with both listeners, and Prometheus scraping them; Prometheus' base URL."""
    roles, api, web = free_port(), free_port(), free_port()
    serve = start_serve(
        isolated,
        tmp_path,
        "serve",
        SUPPORTES_METRICS_LISTEN=f"127.0.0.1:{roles}",
        SUPPORTES_API_LISTEN=f"127.0.0.1:{api}",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        _scrape_config(
            {"supportes-roles": f"127.0.0.1:{roles}", "supportes-api": f"127.0.0.1:{api}"}
        )
    )
    with (tmp_path / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(
            [
                _prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{web}"
    try:
        _wait_for(lambda: _targets_up(base) == 2, "both targets scraped and up", 60)
        yield base
    finally:
        prometheus.terminate()
        serve.terminate()
        prometheus.wait(timeout=30)
        serve.wait(timeout=60)


def _query(base: str, expression: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expression}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _scalar(base: str, expression: str) -> float | None:
    result = _query(base, expression)
    return float(result[0]["value"][1]) if result else None


def _targets_up(base: str) -> int:
    try:
        return int(_scalar(base, "sum(up)") or 0)
    except httpx.HTTPError:
        return 0


def _wait_for(check: Any, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(1)


def test_prometheus_sees_every_command_and_the_lag_drain(
    isolated: Isolated, prometheus_and_serve: str
) -> None:
    base = prometheus_and_serve
    before = _scalar(base, ROLES_COMMANDS) or 0.0
    cases = [str(uuid.uuid4()) for _ in range(COMMANDS // 2)]
    envelopes = [open_case(case) for case in cases]
    envelopes += [
        command(
            "RecordContact", case, {"direction": "inbound", "channel": "email", "summary": "again"}
        )
        for case in cases
    ]
    with SupportesClient(isolated.settings) as client:
        results = client.submit(envelopes, timeout_s=120)
    assert len(results) == COMMANDS

    def counted() -> bool:
        return _scalar(base, ROLES_COMMANDS) == before + COMMANDS

    _wait_for(counted, f"supportes_commands_total grown by {COMMANDS}", 60)
    by_outcome = {
        row["metric"]["outcome"]: float(row["value"][1])
        for row in _query(base, f"sum by (outcome) (supportes_commands_total{{{JOB}}})")
    }
    accepted = sum(1 for r in results if r.get("status") == "accepted")
    assert by_outcome.get("accepted", 0.0) == accepted
    assert sum(by_outcome.values()) == COMMANDS

    def drained() -> bool:
        lag = _scalar(base, 'max(supportes_projector_lag_events{job="supportes-roles"})')
        applied = _scalar(base, f"sum(supportes_projector_events_applied_total{{{JOB}}})") or 0.0
        return lag == 0 and applied > 0

    _wait_for(drained, "projector lag back to 0 with events applied", 90)
    # the API's own series came through its port: the requests it served, by route template
    assert _query(
        base, 'supportes_api_request_duration_seconds_count{job="supportes-api",route="/metrics"}'
    )
    assert _scalar(base, 'sum(supportes_role{job="supportes-roles"})') == 3
