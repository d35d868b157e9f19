"""``audit verify`` over the projection-replay log (issue 20, item 4), beside the bare read.

The benchmark's events are published straight to a scratch topic, so nothing has indexed them:
:func:`index_log` reads the log once and records it in the scratch database's
``event_index`` the way the writer does (:meth:`EventIndex.record`, one transaction per batch,
positions moved). Then ``supportes audit verify --json`` runs as a child process against that
topic and database - the auditor's own command, every check on - and its report gives the
events, the verdict and the seconds on its own clock (the interpreter's start is not in them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

from supportes.bench.kafka_ceilings import BenchTimeoutError
from supportes.bench.progress import Progress
from supportes.bench.replay_child import child_process_env
from supportes.bench.replay_helpers import short_count
from supportes.bench.results import Result
from supportes.bench.stats import rate
from supportes.eventstore.index import EventIndex, IndexedEvent
from supportes.messaging.clients import Component, connection_config
from supportes.settings import Settings

INDEX_BATCH = 5000
TARGET_PCT = 30.0


@dataclass(frozen=True)
class AuditRun:
    """One ``audit verify`` child run."""

    events: int
    index_rows: int
    ok: bool
    failures: int
    seconds: float
    wall_s: float

    @property
    def events_per_s(self) -> float:
        """Verified events per second on the child's own clock."""
        return rate(self.events, self.seconds)


def index_log(scratch: Settings, dsn: str, events: int, *, bench: str, deadline: float) -> int:
    """Record every committed event of ``scratch``'s events topic in ``dsn``'s event index."""
    topic = scratch.topic("events")
    consumer = KafkaConsumer(
        **connection_config(scratch, Component.ADMIN),
        client_id="supportes-bench-index",
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_poll_records=INDEX_BATCH,
    )
    index = EventIndex(dsn)
    progress = Progress(bench, f"index {short_count(events)} for audit verify", events)
    indexed = 0
    try:
        tps = [TopicPartition(topic, p) for p in range(scratch.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise BenchTimeoutError(f"{bench}: indexing the log did not finish in time")
            for tp, records in consumer.poll(timeout_ms=500).items():
                batch = [
                    IndexedEvent(orjson.loads(r.value), topic, tp.partition, r.offset)
                    for r in records
                ]
                positions = {(topic, tp.partition): consumer.position(tp)}
                indexed += index.record(batch, [], positions)
                progress.advance(len(batch))
    finally:
        consumer.close()
        index.close()
    progress.finish()
    return indexed


def audit_in_child(scratch: Settings, dsn: str, events: int, *, bench: str) -> AuditRun:
    """Run ``supportes audit verify --json`` on ``scratch``'s topics and ``dsn``'s index."""
    command = [str(Path(sys.executable).parent / "supportes"), "audit", "verify", "--json"]
    progress = Progress(bench, f"audit verify {short_count(events)} (child process)", events)
    began = time.monotonic()
    done = subprocess.run(
        command,
        env=child_process_env(scratch, dsn),
        capture_output=True,
        timeout=max(120.0, events / 1000),
        check=False,
    )
    wall = time.monotonic() - began
    progress.done = events
    progress.finish()
    if done.returncode not in (0, 4) or not done.stdout.strip():
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{bench}: `supportes audit verify` exited {done.returncode}: {tail}")
    report = json.loads(done.stdout)
    return AuditRun(
        events=int(report["events"]),
        index_rows=int(report["index_rows"]),
        ok=bool(report["ok"]),
        failures=int(report["failures_total"]),
        seconds=float(report["seconds"]),
        wall_s=wall,
    )


def audit_metrics(result: Result, size: int, run: AuditRun, read_per_s: float) -> None:
    """The audit's speed, check and ratio to the bare read of the same topic."""
    label = short_count(size)
    whole = run.events == size and run.index_rows == size
    check = (
        "ok"
        if run.ok and whole
        else (
            f"MISMATCH ok={run.ok}, failures {run.failures:,}, events {run.events:,},"
            f" index rows {run.index_rows:,}"
        )
    )
    result.add(
        f"audit verify {label}",
        run.events_per_s,
        "events/s",
        f"`supportes audit verify` child: every partition, hash chains, versions, index rows;"
        f" {run.seconds:.1f} s own clock (process {run.wall_s:.1f} s); check {check}",
    )
    result.add(
        f"audit verify / kafka read {label}",
        100 * rate(run.events_per_s, read_per_s),
        "%",
        f"of the bare read of the same topic (target >= {TARGET_PCT:g} %)",
    )
