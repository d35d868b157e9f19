"""The fault campaign's short form (``supportes faults campaign --short``, issue 17) inside
``make test``: a deployment of its own (three Kafka nodes, PostgreSQL, three writers, two
projectors, two API replicas), a workload of >= 1,000 commands from 8 clients through the API
and the Kafka client, every fault of the nemesis once, then the checker and a rebuild: every
anomaly count must be 0. The full form is ``make test-faults`` (README, "Running on several
machines")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from supportes.faults.nemesis import FAULTS
from tests.e2e.cli import SUPPORTES


@pytest.mark.timeout(1200)  # the deployment's start and stop included: ~3-8 minutes here
def test_the_short_campaign_finds_no_anomaly(tmp_path: Path) -> None:
    done = subprocess.run(
        [SUPPORTES, "faults", "campaign", "--short", "--json", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    anomalies = {row["class"]: row["count"] for row in report["anomalies"]}
    assert anomalies == dict.fromkeys(anomalies, 0), anomalies
    assert "root_cause_link" in anomalies
    assert "unanswered" in anomalies
    assert report["rebuild_differences"] == []
    assert [row["fault"] for row in report["faults"]] == list(FAULTS)
    assert all(row["next_accepted_after_s"] != "none" for row in report["faults"])
    outcomes = {(row["via"], row["outcome"]): row["commands"] for row in report["commands"]}
    assert outcomes[("api", "accepted")] > 100
    assert outcomes[("kafka", "accepted")] > 100
    assert sum(outcomes.values()) >= 1000
    assert done.returncode == 0
    assert report["ok"] is True
