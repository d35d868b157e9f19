"""``supportes audit verify`` end to end: a clean lifecycle verifies; events forged straight onto
the log and an altered index row are caught, naming the aggregate and version (exit 4)."""

from __future__ import annotations

import copy
import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supportes.aggregates.hashchain import seal
from supportes.client import SupportesClient
from supportes.db.connect import connect
from supportes.messaging.routing import partition_for
from tests.conftest import Isolated
from tests.e2e.cli import error_line, free_port, run_cli
from tests.support.commands import command, open_case
from tests.support.log import forge_events, read_topic, running_writer

EXIT_BROKEN = 4


@dataclass(frozen=True)
class Trail:
    """A scripted history on the real log: three cases and a root cause."""

    isolated: Isolated
    cases: list[str]
    root_cause: str
    events: list[tuple[int, int, bytes | None, Any]]  # (partition, offset, key, envelope)

    def env(self) -> dict[str, str]:
        """The subprocess environment pointing at this test's topics and database."""
        return self.isolated.env()

    def of(self, aggregate_id: str) -> list[dict[str, Any]]:
        """One aggregate's envelopes in log order."""
        return [e for *_, e in self.events if e["aggregate_id"] == aggregate_id]


def lifecycle(case_id: str, root_cause_id: str, start: float) -> list[dict[str, Any]]:
    """A case from opening to closing: acknowledged, owned, fixed, linked, followed up."""
    m = start

    def agent(type_: str, payload: dict[str, Any], at: float) -> dict[str, Any]:
        return command(type_, case_id, payload, minutes=m + at, actor="agent:bob")

    return [
        open_case(case_id, minutes=m),
        agent("Acknowledge", {"channel": "email", "message": "On it"}, 1),
        agent("Assign", {"agent_id": "agent:bob"}, 2),
        agent("TakeResponsibility", {"note": "mine"}, 3),
        agent("ApplyFix", {"kind": "answer", "summary": "Use tray 2"}, 4),
        agent("LinkRootCause", {"root_cause_id": root_cause_id}, 5),
        agent("Resolve", {"resolution": "Tray 2 works"}, 6),
        agent("RecordFollowUp", {"outcome": "confirmed"}, 7),
        agent("Close", {}, 8),
    ]


@pytest.fixture
def trail(isolated: Isolated) -> Trail:
    """Real events through the real writer (stopped before the test tampers with anything)."""
    settings = isolated.settings
    cases = [str(uuid.uuid4()) for _ in range(3)]
    root = str(uuid.uuid4())
    identify = command(
        "IdentifyRootCause", root, {"title": "Feeder wear", "description": "Worn rollers"}
    )
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit([identify], timeout_s=150)
        for n, case_id in enumerate(cases):
            results += client.submit(lifecycle(case_id, root, 10.0 * (n + 1)), timeout_s=150)
    assert all(r["status"] == "accepted" for r in results), results
    return Trail(isolated, cases, root, read_topic(settings, "events"))


def verify(trail: Trail, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``audit verify --json ARGS``: the finished process and its parsed report."""
    result = run_cli("audit", "verify", "--json", *args, env=trail.env(), timeout_s=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result, json.loads(result.stdout)


def _textfile_values(path: Path) -> dict[str, float]:
    """The samples of a node_exporter textfile (no labels in ours)."""
    lines = path.read_text().splitlines()
    return {
        name: float(value)
        for name, value in (line.split() for line in lines if line and not line.startswith("#"))
    }


def test_clean_lifecycle_verifies(trail: Trail) -> None:
    textfile = trail.isolated.settings.home_dir / f"audit-{uuid.uuid4().hex[:8]}.prom"
    human = run_cli("audit", "verify", "--metrics-file", str(textfile), env=trail.env())
    assert human.returncode == 0, human.stderr
    exported = _textfile_values(textfile)
    textfile.unlink()
    assert exported["supportes_audit_verify_success"] == 1
    assert exported["supportes_audit_verify_differences"] == 0
    assert exported["supportes_audit_verify_events_checked"] == len(trail.events)
    assert abs(exported["supportes_audit_verify_last_run_timestamp_seconds"] - time.time()) < 120
    assert "OK" in human.stdout
    assert human.stdout.splitlines()[0].split() == ["CHECK", "CHECKED", "FAILED"]

    result, report = verify(trail)
    assert result.returncode == 0
    total = len(trail.events)
    assert report["ok"] is True
    assert report["aggregates"] == {"total": 4, "cases": 3, "root_causes": 1}
    assert report["events"] == report["index_rows"] == total
    assert report["unindexed"] == 0
    assert report["checks"] == {
        "log": {"checked": total, "failed": 0},
        "versions": {"checked": total, "failed": 0},
        "hash_chain": {"checked": total, "failed": 0},
        "index": {"checked": total, "failed": 0},
    }
    assert report["first_failure"] is None
    assert report["failures"] == []
    assert report["failures_total"] == 0
    assert report["case_id"] is None
    assert sorted(report["partitions"]) == list(range(trail.isolated.settings.partitions))

    case_id = trail.cases[1]
    result, one = verify(trail, "--case", case_id)
    assert result.returncode == 0
    assert one["case_id"] == case_id
    assert one["events"] == len(trail.of(case_id)) == 9
    assert one["partitions"] == [partition_for(case_id, trail.isolated.settings.partitions)]
    assert one["aggregates"] == {"total": 1, "cases": 1, "root_causes": 0}


def test_unknown_or_malformed_case_is_a_usage_error(isolated: Isolated) -> None:
    stranger = str(uuid.uuid4())
    unknown = run_cli("audit", "verify", "--case", stranger, env=isolated.env())
    assert unknown.returncode == 2
    assert f"unknown case {stranger}" in error_line(unknown)
    malformed = run_cli("audit", "verify", "--case", "not-a-uuid", env=isolated.env())
    assert malformed.returncode == 2
    assert "not-a-uuid" in error_line(malformed)


def test_unreachable_kafka_is_one_line_exit_1() -> None:
    env = {
        "SUPPORTES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "SUPPORTES_CONNECT_TIMEOUT_S": "2",
    }
    result = run_cli("audit", "verify", env=env, timeout_s=60)
    assert result.returncode == 1
    assert "cannot reach Kafka" in error_line(result)


def test_events_forged_on_the_log_are_named(trail: Trail) -> None:
    rewritten, forked, restamped, untouched = (*trail.cases, trail.root_cause)
    # 1. An altered copy of a real event, old hash kept: version 2 appears a second time.
    altered = copy.deepcopy(trail.of(rewritten)[1])
    altered["actor"] = {"id": "agent:mallory", "kind": "agent"}
    # 2. A properly sealed next version whose prev_hash skips the real last event.
    chain = trail.of(forked)
    fork = seal({**chain[-1], "version": len(chain) + 1, "prev_hash": chain[-2]["hash"]})
    # 3. A next version copied from the last event, payload changed, hash not recomputed.
    chain = trail.of(restamped)
    stale = copy.deepcopy(chain[-1])
    stale.update(version=len(chain) + 1, prev_hash=chain[-1]["hash"], event_id=str(uuid.uuid4()))
    stale["actor"] = {"id": "agent:mallory", "kind": "agent"}
    positions = forge_events(trail.isolated.settings, [altered, fork, stale])
    expected = {
        positions[0]: (rewritten, 2, "versions", "duplicate or out-of-order version"),
        positions[1]: (forked, len(trail.of(forked)) + 1, "hash_chain", "prev_hash mismatch"),
        positions[2]: (restamped, len(chain) + 1, "hash_chain", "hash mismatch"),
    }

    result, report = verify(trail)
    assert result.returncode == EXIT_BROKEN
    assert report["ok"] is False
    assert report["failures_total"] == 3
    assert report["checks"]["versions"]["failed"] == 1
    assert report["checks"]["hash_chain"]["failed"] == 2
    assert report["checks"]["index"]["failed"] == 0
    assert report["unindexed"] == 3  # the writer never indexed the forgeries
    found = {
        (f["partition"], f["offset"]): (f["aggregate_id"], f["version"], f["check"])
        for f in report["failures"]
    }
    assert found == {pos: exp[:3] for pos, exp in expected.items()}
    first_id, first_version, _, first_reason = expected[min(expected)]
    first = report["first_failure"]
    assert (first["aggregate_id"], first["version"]) == (first_id, first_version)
    line = error_line(result)
    assert f"case {first_id} version {first_version}:" in line
    assert first_reason in line
    assert "and 2 more failures" in line

    for position, (case_id, version, _, reason) in expected.items():
        result, one = verify(trail, "--case", case_id)
        assert result.returncode == EXIT_BROKEN
        assert one["failures_total"] == 1
        assert (one["first_failure"]["partition"], one["first_failure"]["offset"]) == position
        line = error_line(result)
        assert line.startswith(f"supportes: error: case {case_id} version {version}: ")
        assert reason in line
    assert verify(trail, "--case", untouched)[0].returncode == 0


def test_altered_index_row_is_named(trail: Trail) -> None:
    case_id = trail.cases[2]
    fix = next(e for e in trail.of(case_id) if e["type"] == "FixApplied")
    conn = connect(trail.isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE event_index.events"
                " SET envelope = jsonb_set(envelope, '{payload,summary}', '\"Blame the user\"')"
                " WHERE aggregate_id = %s AND version = %s",
                (case_id, fix["version"]),
            )
            assert cur.rowcount == 1
        conn.commit()
    finally:
        conn.close()

    textfile = trail.isolated.settings.home_dir / f"audit-{uuid.uuid4().hex[:8]}.prom"
    result = run_cli("audit", "verify", "--metrics-file", str(textfile), env=trail.env())
    assert result.returncode == EXIT_BROKEN
    exported = _textfile_values(textfile)
    assert exported["supportes_audit_verify_success"] == 0
    assert exported["supportes_audit_verify_differences"] == 1
    textfile.unlink()
    line = error_line(result)
    assert f"case {case_id} version {fix['version']}: index differs from the log" in line
    assert "envelope differs in payload" in line
    assert "FAILED" in result.stdout

    result, report = verify(trail, "--case", case_id)
    assert result.returncode == EXIT_BROKEN
    assert report["failures_total"] == 1
    assert report["checks"]["index"]["failed"] == 1
    assert report["checks"]["hash_chain"]["failed"] == 0  # the log itself is intact
    first = report["first_failure"]
    assert first["check"] == "index"
    assert (first["aggregate_id"], first["version"]) == (case_id, fix["version"])
    assert set(first) == {
        "check",
        "aggregate_type",
        "aggregate_id",
        "version",
        "partition",
        "offset",
        "reason",
        "message",
    }
    assert first["aggregate_type"] == "Case"
    assert verify(trail, "--case", trail.cases[0])[0].returncode == 0


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in {"seconds", "events_per_second"}}


def test_tampered_columns_are_named_and_workers_give_the_same_report(trail: Trail) -> None:
    """PostgreSQL compares each index column with its envelope: tampered columns and an index
    row with no log record are named all the same; two and three worker
    processes report exactly what one does."""
    retyped, renamed, orphaned = trail.cases
    partitions = trail.isolated.settings.partitions
    on_log = {(p, o) for p, o, *_ in trail.events}
    home = partition_for(orphaned, partitions)
    end = max(o for p, o, *_ in trail.events if p == home)
    # A transaction marker's offset (the last commit's follows the partition's last event).
    gap = next(o for o in range(end + 2) if (home, o) not in on_log)
    conn = connect(trail.isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE event_index.events SET type = 'CaseClosed'"
                " WHERE aggregate_id = %s AND version = 2",
                (retyped,),
            )
            cur.execute(
                "UPDATE event_index.events SET event_id = gen_random_uuid()"
                " WHERE aggregate_id = %s AND version = 3",
                (renamed,),
            )
            cur.execute(
                "INSERT INTO event_index.events (aggregate_id, version, aggregate_type, event_id,"
                ' type, occurred_at, command_id, topic, partition, "offset", hash, envelope)'
                " SELECT aggregate_id, 99, aggregate_type, gen_random_uuid(), type, occurred_at,"
                " command_id, topic, partition, %s, hash, envelope FROM event_index.events"
                " WHERE aggregate_id = %s AND version = 1",
                (gap, orphaned),
            )
            assert cur.rowcount == 1
        conn.commit()
    finally:
        conn.close()

    result, report = verify(trail)
    assert result.returncode == EXIT_BROKEN
    assert report["failures_total"] == 3
    assert report["checks"]["index"]["failed"] == 3
    reasons = {(f["aggregate_id"], f["version"]): f["reason"] for f in report["failures"]}
    assert reasons == {
        (retyped, 2): "index column type differs from the envelope",
        (renamed, 3): "index column event_id differs from the envelope",
        (orphaned, 99): "index row not on the log",
    }
    for workers in ("2", "3"):
        again, same = verify(trail, "--workers", workers)
        assert again.returncode == EXIT_BROKEN
        assert _comparable(same) == _comparable(report)

    refused = run_cli("audit", "verify", "--workers", str(partitions + 1), env=trail.env())
    assert refused.returncode == 2
    assert f"--workers must be 1..{partitions}" in error_line(refused)
