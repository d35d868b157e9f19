"""``supportes demo``: one line and exit 1 without a writer; loads once; idempotent."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from supportes.stack.processes import is_alive
from tests.conftest import Isolated
from tests.e2e.cli import error_line, run_cli
from tests.e2e.serving import start_serve
from tests.support.history import rows


@pytest.fixture
def serve(isolated: Isolated, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_serve(isolated, tmp_path, "serve")
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_without_a_writer_the_demo_fails_with_one_line(isolated: Isolated) -> None:
    began = time.monotonic()
    result = run_cli("demo", "--cases", "2", "--timeout", "2", env=isolated.env())
    assert result.returncode == 1
    assert "no writer answered within 2s: start one with `supportes serve`" in error_line(result)
    assert time.monotonic() - began < 30


@pytest.mark.usefixtures("serve")
def test_demo_loads_once_and_the_projections_show_it(isolated: Isolated) -> None:
    env = isolated.env()
    first = run_cli("demo", "--cases", "30", "--json", env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["cases"] == 30
    assert summary["sent"] == summary["commands"] > 30 * 8
    assert summary["accepted"] + summary["rejected"] == summary["sent"]
    assert summary["rejected"] < 10  # the deliberate mistakes only
    assert summary["caught_up"] is True
    assert "answered" in first.stderr  # progress
    cases = rows(isolated.dsn, "SELECT case_id::text, status FROM proj.case_view")
    assert len(cases) == 30
    assert {c["status"] for c in cases} >= {"closed"}
    assert rows(isolated.dsn, "SELECT 1 FROM proj.follow_up_queue LIMIT 1")
    # fix everything twice: quick fixes left root-cause work (the 200-case set also has a
    # recurring known answer: tests/unit/demo)
    assert rows(isolated.dsn, "SELECT 1 FROM proj.follow_up_queue WHERE kind = 'root_cause_needed'")
    # Times end near now: the last event is within the last day, none in the future.
    (latest,) = rows(
        isolated.dsn, "SELECT max(occurred_at) AS t, now() AS n FROM event_index.events"
    )
    assert latest["n"] - timedelta(days=1) < latest["t"] <= latest["n"]
    events = len(rows(isolated.dsn, "SELECT 1 FROM event_index.events"))

    again = run_cli("demo", "--cases", "30", env=env)
    assert again.returncode == 0, again.stderr
    assert "already loaded, nothing sent" in again.stdout
    assert f"supportes case history {summary['example_case_id']}" in again.stdout
    assert "supportes report repeat-issues" in again.stdout
    assert "supportes queue follow-ups" in again.stdout
    assert summary["example_case_id"] in {c["case_id"] for c in cases}
    assert len(rows(isolated.dsn, "SELECT 1 FROM event_index.events")) == events
    assert len(rows(isolated.dsn, "SELECT 1 FROM proj.case_view")) == 30


def test_detached_serve_shows_in_status_and_stack_down_stops_it(isolated: Isolated) -> None:
    home = Path.cwd() / ".local" / "scratch" / uuid.uuid4().hex[:8]
    env = {**isolated.env(), "SUPPORTES_HOME": str(home)}
    try:
        started = run_cli("serve", "--detach", "--group-id", isolated.group_id, env=env)
        assert started.returncode == 0, started.stderr
        assert "serve running in the background (pid" in started.stdout
        pid = int((home / "serve.pid").read_text())
        assert (home / "serve.ready").exists()

        began = time.monotonic()
        again = run_cli("serve", "--detach", env=env)
        assert again.returncode == 0, again.stderr
        assert f"serve already running (pid {pid})" in again.stdout
        assert time.monotonic() - began < 15

        status = run_cli("stack", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        parts = {c["component"]: c for c in json.loads(status.stdout)}
        assert parts["serve"]["running"] is True
        detail = parts["serve"]["detail"]
        assert detail.startswith(f"pid {pid}"), detail
        assert "writer running" in detail, detail  # the roles' health, as serve publishes it
        assert "projector running" in detail, detail

        down = run_cli("stack", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert "stopped serve" in down.stdout
        assert not is_alive(pid)
        assert '"event": "writer stopped"' in (home / "logs" / "serve.log").read_text()
        after = run_cli("stack", "status", env=env)
        assert after.returncode == 0  # external Kafka and PostgreSQL still run; serve is optional
        assert "stopped" in after.stdout
    finally:
        run_cli("stack", "down", env=env)
        shutil.rmtree(home, ignore_errors=True)
