"""Benchmark of the write path across processes (issue 17): two writer processes beside one.

``K`` real ``supportes serve --writer`` processes (``SUPPORTES_WRITER_INSTANCE`` 0..K-1, one
group) are started on fresh topics and left to settle into a stable group; then the same
realistic commands are sent in bulk and the rate is taken from the results topic: results
committed between 10 % and 90 % of the expected count, over the time between.
Rounds alternate one and two processes, so a slow moment of the machine counts against both.

On a 2-core machine the figure says what bounds the writer more than how it scales: the broker,
PostgreSQL and the writers share the two cores, so a second process can at most take the CPU
the first one leaves idle while it waits on the broker and the index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from kafka import TopicPartition

from supportes.bench.machine import busy_share, machine_cpu_ticks, process_cpu_s
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.scratch import child_env, scratch_database, scratch_topics
from supportes.client import SupportesClient
from supportes.db.migrate import migrate_database
from supportes.messaging.clients import Component, committed_reader
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from supportes.stack.kafka_admin import admin_client

ROUNDS = 2
WINDOW = (0.10, 0.90)
"""The share of the expected results between which the rate is taken."""
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ScalingRun:
    """One run: ``writers`` processes over the prefilled commands."""

    writers: int
    rate: float
    """Results committed per second inside :data:`WINDOW`."""
    results: int
    seconds: float
    """From the first command sent to the last result."""
    busy: float | None = None
    """Share of all the machine's cores busy over :attr:`seconds`."""
    writers_cpu_s: float | None = None
    """CPU seconds of the writer processes together over :attr:`seconds`."""


def writer_scaling(settings: Settings, commands: int, rounds: int = ROUNDS) -> Result:
    """Commands/s of one and of two writer processes over the same ``commands``."""
    result = Result(
        "writer-scaling",
        params={"commands": commands, "partitions": settings.partitions, "rounds": rounds},
    )
    envelopes = list(TrafficGenerator(seed=2027).commands(commands))
    runs: dict[int, list[ScalingRun]] = {1: [], 2: []}
    for number in range(1, rounds + 1):
        for writers in (1, 2) if number % 2 else (2, 1):
            runs[writers].append(_run(settings, envelopes, writers, f"{number}/{rounds}"))
    one, two = (median(r.rate for r in runs[k]) for k in (1, 2))
    for writers, label in ((1, "one writer process"), (2, "two writer processes")):
        rates = ", ".join(f"{r.rate:,.0f}" for r in runs[writers])
        result.add(
            f"commands ({writers} writer{'s' if writers > 1 else ''})",
            median(r.rate for r in runs[writers]),
            "cmd/s",
            f"{label}, median of {rounds}; runs {rates}; results between "
            f"{WINDOW[0]:.0%} and {WINDOW[1]:.0%} of {runs[writers][0].results:,}",
        )
    _cpu_metrics(result, runs)
    ratios = [100 * b.rate / a.rate for a, b in zip(runs[1], runs[2], strict=True) if a.rate > 0]
    result.add(
        "two / one",
        median(ratios) if ratios else 0.0,
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)}); medians "
        f"{two:,.0f} / {one:,.0f}; {os.cpu_count()} cores shared by the broker, PostgreSQL and "
        "the writers",
    )
    return result


def _cpu_metrics(result: Result, runs: dict[int, list[ScalingRun]]) -> None:
    """Where the CPU went: the machine's busy share and the writers' cores, per process count."""
    for writers, group in runs.items():
        busy = [100 * r.busy for r in group if r.busy is not None]
        cores = [r.writers_cpu_s / r.seconds for r in group if r.writers_cpu_s and r.seconds]
        plural = "s" if writers > 1 else ""
        if busy:
            result.add(
                f"machine busy ({writers} writer{plural})",
                median(busy),
                "%",
                f"of all {os.cpu_count()} cores, first send to last result; runs "
                + ", ".join(f"{b:.0f}" for b in busy),
            )
        if cores:
            result.add(
                f"writers' CPU ({writers} writer{plural})",
                median(cores),
                "cores",
                "the writer processes together, same window; runs "
                + ", ".join(f"{c:.2f}" for c in cores),
            )


def _run(
    settings: Settings, envelopes: list[dict[str, Any]], writers: int, label: str
) -> ScalingRun:
    """Prefill fresh topics, start ``writers`` processes, time their results."""
    with scratch_topics(settings) as scratch_kafka, scratch_database(settings) as dsn:
        scratch = scratch_kafka.model_copy(update={"pg_dsn": dsn})
        migrate_database(dsn)
        expected = len(envelopes)
        progress = Progress("writer-scaling", f"{writers} writer(s) {label}", expected)
        log_dir = scratch.home_dir / "bench-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            pids = []
            for instance in range(writers):
                log_path = log_dir / f"{scratch.topic_prefix}-writer-{instance}.log"
                pids.append(stack.enter_context(_writer(scratch, dsn, instance, log_path)).pid)
            _wait_for_group(scratch, writers)  # every writer holds partitions: no rebalance
            ticks, cpu = machine_cpu_ticks(), _cpu_s(pids)
            began = time.monotonic()
            with SupportesClient(scratch) as client:
                client.send(envelopes)
            times = _watch_results(scratch, expected, progress)
            seconds = time.monotonic() - began
            busy, cpu_after = busy_share(ticks, machine_cpu_ticks()), _cpu_s(pids)
        progress.finish()
    low, high = (times[int(expected * share) - 1] for share in WINDOW)
    counted = int(expected * WINDOW[1]) - int(expected * WINDOW[0])
    writers_cpu = cpu_after - cpu if cpu is not None and cpu_after is not None else None
    return ScalingRun(
        writers, counted / max(high - low, 1e-6), expected, seconds, busy, writers_cpu
    )


def _cpu_s(pids: list[int]) -> float | None:
    """The CPU seconds of ``pids`` together (None when one cannot be read)."""
    figures = [process_cpu_s(pid) for pid in pids]
    return None if any(f is None for f in figures) else sum(f or 0.0 for f in figures)


@contextmanager
def _writer(
    scratch: Settings, dsn: str, instance: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``supportes serve --writer`` process for the block (terminated after it)."""
    env = {
        **os.environ,
        **child_env(scratch),
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_WRITER_INSTANCE": str(instance),
        "SUPPORTES_LOG_LEVEL": "warning",
    }
    supportes = str(Path(sys.executable).parent / "supportes")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [supportes, "serve", "--writer", "--group-id", f"{scratch.topic_prefix}-writer"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for_group(scratch: Settings, members: int, timeout_s: float = 120.0) -> None:
    """Until the writers' group is stable with ``members`` members (each then holds
    partitions: the measured window has no rebalance in it)."""
    group = f"{scratch.topic_prefix}-writer"
    deadline = time.monotonic() + timeout_s
    with admin_client(scratch) as admin:
        while time.monotonic() < deadline:
            described = admin.describe_groups([group]).get(group, {})
            if (
                described.get("group_state") == "Stable"
                and len(described.get("members", [])) == members
            ):
                return
            time.sleep(0.5)
    raise RuntimeError(f"group {group} not stable with {members} members in {timeout_s:.0f} s")


def _watch_results(scratch: Settings, expected: int, progress: Progress) -> list[float]:
    """The monotonic time each of the first ``expected`` committed results was seen (first
    answers and follow-ons' answers alike: the writer's output in order of arrival)."""
    reader = committed_reader(scratch, Component.ADMIN)
    try:
        tps = [TopicPartition(scratch.topic("results"), p) for p in range(scratch.partitions)]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        seen: list[float] = []
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(seen) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen):,} of {expected:,} results in time")
            polled = reader.poll(timeout_ms=200, max_records=10_000)
            now = time.monotonic()
            count = sum(len(records) for records in polled.values())
            seen.extend([now] * count)
            progress.advance(count)
        return seen[:expected]
    finally:
        reader.close()
