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

WARNINGS_SHOWN = 40


def _warnings(workdir: Path, stderr: str) -> list[str]:
    """The last warnings and errors of the campaign (its workload's clients) and of every
    service it ran (``logs/*.log``), oldest first, each prefixed with where it came from: what
    an anomaly's cause is found in (a writer stuck on a partition, a client that gave up)."""
    found: list[tuple[str, str]] = []
    sources = [("campaign", stderr.splitlines())]
    sources += [(f.stem, f.read_text().splitlines()) for f in sorted(workdir.glob("logs/*.log"))]
    for name, lines in sources:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error"):
                found.append((str(entry.get("timestamp", "")), f"{name}: {line[:400]}"))
    return [text for _, text in sorted(found)[-WARNINGS_SHOWN:]]


@pytest.mark.timeout(1200)  # the deployment's start and stop included: ~3-8 minutes here
def test_the_short_campaign_finds_no_anomaly(tmp_path: Path) -> None:
    done = subprocess.run(
        [SUPPORTES, "faults", "campaign", "--short", "--json", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    (tmp_path / "campaign-stderr.log").write_text(done.stderr)  # kept beside logs/*.log
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    anomalies = {row["class"]: row["count"] for row in report["anomalies"]}
    assert anomalies == dict.fromkeys(anomalies, 0), (anomalies, _warnings(tmp_path, done.stderr))
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
