"""``audit verify`` over the projection-replay log (issue 20, item 4), beside the bare read.

The benchmark's events are published straight to a scratch topic, so nothing has indexed them:
:func:`index_log` reads the log once and records it in the scratch database's
``event_index`` the way the writer does (:meth:`EventIndex.record`, one transaction per batch,
positions moved). Then ``supportes audit verify --json --workers N`` runs as a child process
against that topic and database - the auditor's own command, every check on - and its report
gives the events, the verdict and the seconds on its own clock (the interpreter's start is not
in them; the worker processes' start is). One and two workers run :data:`ROUNDS` times each,
alternating; the median of each is reported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from kafka import TopicPartition

from supportes.bench.kafka_ceilings import BenchTimeoutError
from supportes.bench.progress import Progress
from supportes.bench.replay_child import child_process_env
from supportes.bench.replay_helpers import short_count
from supportes.bench.results import Result
from supportes.bench.stats import rate
from supportes.eventstore.index import EventIndex, IndexedEvent
from supportes.messaging.clients import Component, committed_reader
from supportes.settings import Settings

INDEX_BATCH = 5000
TARGET_PCT = 30.0
ROUNDS = 2
WORKERS = (1, 2)


@dataclass(frozen=True)
class AuditRun:
    """One ``audit verify`` child run."""

    events: int
    index_rows: int
    ok: bool
    failures: int
    seconds: float
    wall_s: float
    workers: int = 1

    @property
    def events_per_s(self) -> float:
        """Verified events per second on the child's own clock."""
        return rate(self.events, self.seconds)


def index_log(scratch: Settings, dsn: str, events: int, *, bench: str, deadline: float) -> int:
    """Record every committed event of ``scratch``'s events topic in ``dsn``'s event index."""
    topic = scratch.topic("events")
    consumer = committed_reader(
        scratch, Component.ADMIN, client_id="supportes-bench-index", max_poll_records=INDEX_BATCH
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


def audit_rounds(scratch: Settings, dsn: str, events: int, *, bench: str) -> list[AuditRun]:
    """Index the log into ``dsn``, then :data:`ROUNDS` audits per worker count, alternating."""
    index_log(scratch, dsn, events, bench=bench, deadline=time.monotonic() + max(600, events))
    return [
        audit_in_child(scratch, dsn, events, bench=bench, workers=workers)
        for _ in range(ROUNDS)
        for workers in WORKERS
    ]


def audit_in_child(
    scratch: Settings, dsn: str, events: int, *, bench: str, workers: int = 1
) -> AuditRun:
    """Run ``supportes audit verify --json`` on ``scratch``'s topics and ``dsn``'s index."""
    command = [str(Path(sys.executable).parent / "supportes"), "audit", "verify", "--json"]
    command += ["--workers", str(workers)]
    what = f"audit verify {short_count(events)}, {workers} worker{'s' if workers > 1 else ''}"
    progress = Progress(bench, f"{what} (child process)", events)
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
        workers=workers,
    )


def audit_metrics(result: Result, size: int, runs: list[AuditRun], read_per_s: float) -> None:
    """Per worker count: the median audit speed, its check, and its ratio to the bare read of
    the same topic."""
    label = short_count(size)
    for workers in sorted({run.workers for run in runs}):
        mine = [run for run in runs if run.workers == workers]
        speed = statistics.median(run.events_per_s for run in mine)
        bad = [run for run in mine if not (run.ok and run.events == run.index_rows == size)]
        check = (
            "ok"
            if not bad
            else (
                f"MISMATCH ok={bad[0].ok}, failures {bad[0].failures:,}, events {bad[0].events:,},"
                f" index rows {bad[0].index_rows:,}"
            )
        )
        name = f"audit verify {label}" + (f", {workers} workers" if workers > 1 else "")
        rounds = "/".join(f"{run.events_per_s:,.0f}" for run in mine)
        result.add(
            name,
            speed,
            "events/s",
            f"`supportes audit verify --workers {workers}` child: hash chains, versions, index"
            f" rows; median of {len(mine)} rounds ({rounds}), own clock; check {check}",
        )
        result.add(
            f"{name} / kafka read",
            100 * rate(speed, read_per_s),
            "%",
            f"of the bare read of the same topic (target >= {TARGET_PCT:g} %)",
        )
