"""The fault campaign's log checker on the real broker and PostgreSQL: a writer's log over a
few hundred commands has no anomaly; anomalies planted on that log are reported in their class
(a forged copy of an event, an event of a rejected command, an aborted transaction, a
transaction left open), also by ``supportes faults check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from supportes.client import SupportesClient
from supportes.db.connect import connect
from supportes.faults.analysis import analyse
from supportes.faults.model import CLASSES, CheckReport
from supportes.faults.projections import compare_checksums, table_checksums
from supportes.faults.reader import read_snapshot
from supportes.messaging.clients import Component, transactional_producer
from supportes.messaging.guard import guarded
from supportes.messaging.routing import key_of, partition_for
from supportes.ops.rebuild import rebuild
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.support.commands import command
from tests.support.log import forge_events, read_topic, running_writer

SUPPORTES = str(Path(sys.executable).parent / "supportes")


def _counts(report: CheckReport) -> dict[str, int]:
    return {name: f.count for name, f in report.findings.items()}


def _wait_all_answered(settings: Settings, timeout_s: float = 40.0) -> None:
    """Until every command on the log (follow-ons too) has a result."""
    deadline = time.monotonic() + timeout_s
    while True:
        wanted = {v["command_id"] for *_, v in read_topic(settings, "commands")}
        answered = {v["command_id"] for *_, v in read_topic(settings, "results")}
        if wanted <= answered:
            return
        assert time.monotonic() < deadline, f"{len(wanted - answered)} commands unanswered"
        time.sleep(0.5)


def _transaction(settings: Settings, topic: str, envelope: dict[str, Any]) -> Any:
    """A rogue transactional producer with one record of ``envelope`` sent and flushed,
    its transaction still open."""
    producer = transactional_producer(
        settings, Component.ADMIN, f"rogue-{uuid.uuid4().hex[:8]}", linger_ms=0
    )
    producer.init_transactions()
    producer.begin_transaction()
    aggregate_id = envelope["aggregate_id"]
    producer.send(
        settings.topic(topic),
        key=key_of(aggregate_id),
        value=json.dumps(envelope).encode(),
        partition=partition_for(aggregate_id, settings.partitions),
    )
    producer.flush(timeout=10)
    return producer


def _rebuilds_checksum_alike(isolated: Isolated) -> None:
    """The proj.* checksums: a rebuild from the log, twice, gives the same tables; no rebuild
    (empty tables) differs."""
    settings = isolated.settings
    conn = connect(isolated.dsn)
    try:
        empty = table_checksums(conn)
        rebuild(settings)
        first = table_checksums(conn)
        rebuild(settings)
        second = table_checksums(conn)
    finally:
        conn.close()
    assert compare_checksums(first, second) == []
    assert compare_checksums(empty, first), "a rebuilt case_view must differ from an empty one"


def _cli_reports(isolated: Isolated) -> None:
    """``supportes faults check --json`` reports the planted anomalies and exits 1."""
    env = {**os.environ, **isolated.env(), "SUPPORTES_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [SUPPORTES, "faults", "check", "--json", "--open-wait", "1"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()
    shown = json.loads(done.stdout)
    assert shown["anomalies"]["open_transaction"]["count"] == 1
    assert shown["anomalies"]["events_per_result"]["count"] >= 1


def test_a_real_log_checks_clean_and_planted_anomalies_are_found(isolated: Isolated) -> None:
    settings = isolated.settings
    commands = list(TrafficGenerator(seed=17, concurrent_cases=40).commands(300))
    unknown_case = command("Assign", str(uuid.uuid4()), {"agent_id": "agent:li"})  # not_found
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit([*commands, unknown_case], timeout_s=40)
        _wait_all_answered(settings)
    assert results[-1]["status"] == "rejected"
    submitted = [c["command_id"] for c in commands] + [unknown_case["command_id"]]

    began = time.monotonic()
    clean = analyse(read_snapshot(settings, submitted=submitted, open_wait_s=5))
    assert _counts(clean) == dict.fromkeys(CLASSES, 0), clean.as_dict()
    assert clean.totals["events_committed"] >= 300
    check_seconds = time.monotonic() - began

    _rebuilds_checksum_alike(isolated)

    # plant: a forged copy of an event; an event of the rejected command; an aborted
    # transaction; a transaction left open
    events = [e for *_, e in read_topic(settings, "events")]
    victim = events[len(events) // 2]
    rejected_event = {**events[0], "command_id": unknown_case["command_id"]}
    rejected_event["event_id"] = str(uuid.uuid4())
    forge_events(settings, [victim, rejected_event])
    aborted = _transaction(settings, "events", {**events[1], "event_id": str(uuid.uuid4())})
    guarded(aborted.abort_transaction, timeout_s=30, what="abort the planted transaction")
    aborted.close(timeout=10)
    left_open = _transaction(settings, "results", {"aggregate_id": victim["aggregate_id"]})
    try:
        planted = analyse(read_snapshot(settings, submitted=submitted, open_wait_s=2))
        counts = _counts(planted)
        doubled = planted.findings["events_per_result"].examples
        assert {"kind": "doubled", "event_id": victim["event_id"]}.items() <= doubled[0].items()
        assert counts["versions"] >= 1  # the copy repeats a version
        assert counts["aborted_read"] >= 1
        aborted_reads = planted.findings["aborted_read"].examples
        assert unknown_case["command_id"] in {e["command_id"] for e in aborted_reads}
        assert planted.totals["events_aborted"] == 1
        open_ = planted.findings["open_transaction"].examples
        assert [(e["topic"], e["partition"]) for e in open_] == [
            ("results", partition_for(victim["aggregate_id"], settings.partitions))
        ]
        assert counts["index"] == 0  # the forgeries are past the index's position
        _cli_reports(isolated)
    finally:
        left_open.close(timeout=5)
    assert check_seconds < 20
