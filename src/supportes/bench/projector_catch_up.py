"""Live catch-up (issue 20): a real ``supportes serve --writer --projector`` given a burst of
realistic commands; how far the projector falls behind and how fast its lag drains.

1. **A scratch corner**: fresh topics and a migrated database, one ``supportes serve --writer
   --projector`` process (JSON log lines at the default level, ``info``, read from its stderr
   as they come), left to settle until both its groups are stable.
2. **The burst**: the traffic generator's commands sent with the Kafka client as fast as it
   goes (one bulk send). A reader of the results topic notes when each result arrives
   (read_committed: the result and its events are committed together); the burst's last
   result is the last to arrive once every sent command has its result and nothing more came
   for :data:`QUIET_S` (follow-ons' results included).
3. **Lag**, every :data:`SAMPLE_EVERY_S`: the sum over projections and partitions of the events
   topic's end offset (read_committed) minus the offset stored with the rows, as ``supportes
   projections status`` computes it, from a consumer and a connection kept open; with each
   sample, the CPU seconds of the serve process, PostgreSQL and the broker, and the machine's
   ticks. Events applied come from the projector's own ``batch projected`` lines.
4. **The replay rate of the same log**: ``supportes projections rebuild`` into a fresh
   database once the corner is stopped, as the ``projection-replay`` benchmark runs it; the
   drain rate is reported as a ratio of it.
5. **A live drain of the whole log** (the projector down through the burst, as after a
   restart): ``supportes serve --projector`` started on a fresh database over the same log, timed
   from its partitions' assignment (its ``partitions assigned`` line) to lag 0; alternating
   with the rebuild of step 4, :data:`DRAIN_ROUNDS` rounds, the ratio the median of the rounds'.
   The same projector code as the live one of step 1, with all the service's parts (group
   consumer, rebalance listener, metrics, Kafka offset commits, ``run``) against a rebuild's
   group-less replay.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import IO, Any

from kafka import TopicPartition

from supportes.bench.api_corner import stop_process
from supportes.bench.machine import busy_share, machine_cpu_ticks
from supportes.bench.process_tree import stack_pids, tree_cpu_now
from supportes.bench.progress import Progress
from supportes.bench.replay_child import Replay, replay_in_child
from supportes.bench.replay_helpers import log_records, short_count
from supportes.bench.results import Result
from supportes.bench.scratch import child_env, scratch_database, scratch_topics
from supportes.bench.stats import rate
from supportes.client import SupportesClient
from supportes.consumers.projector import group_for
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.clients import Component, committed_reader
from supportes.projections.registry import all_projections
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from supportes.stack.kafka_admin import admin_client

NAME = "projector-catch-up"
SAMPLE_EVERY_S = 0.15
QUIET_S = 2.0
"""Once every sent command has its result, the burst is over when no result came for this
long (the follow-ons' results come within a writer cycle or two)."""
STARTUP_TIMEOUT_S = 120.0
SEED = 2028
DRAIN_ROUNDS = 2


# -- pure figures --------------------------------------------------------------------------------


def lag_of(
    ends: Mapping[int, int], stored: Mapping[tuple[str, int], int], names: Sequence[str]
) -> int:
    """Sum over projections and partitions of end offset - stored offset (0 when stored is
    ahead; a projection without a stored offset for a partition is at 0), as
    :func:`~supportes.ops.projection_status.projection_status` computes each row's lag."""
    return sum(
        max(0, end - stored.get((name, partition), 0))
        for name in names
        for partition, end in ends.items()
    )


@dataclass(frozen=True)
class LagSample:
    """One reading: when (monotonic), the lag, and the CPU so far."""

    at: float
    lag: int
    end: int
    """Sum of the end offsets."""
    cpu: Mapping[str, float] = field(default_factory=dict)
    """CPU seconds so far of the ``serve`` process, ``postgresql``, the ``broker``."""
    ticks: tuple[int, int] | None = None
    """The machine's (busy, total) ticks (:func:`~supportes.bench.machine.machine_cpu_ticks`)."""


@dataclass(frozen=True)
class Applied:
    """A ``batch projected`` line of the live projector, when it was read."""

    at: float
    events: int
    duration_ms: float


@dataclass(frozen=True)
class CatchUp:
    """What the burst did to the projector."""

    events: int
    """Events the projector applied in the run."""
    burst_s: float
    """From the first command sent to the last result."""
    max_lag: int
    max_lag_at_s: float
    """Seconds after the first command sent."""
    lag_at_last_result: int
    drain_s: float | None
    """From the last result to the first sample with lag 0 (None: lag 0 never seen after)."""
    last_applied_s: float | None
    """From the last result to the last batch with events read from the projector's log."""
    drained_events: int
    """Events in the batches the projector reported after the last result."""
    drain_batches: int
    burst_batches: int
    whole_s: float | None
    """From the first command sent to lag 0."""

    @property
    def drain_rate(self) -> float:
        """Events applied after the last result per second of draining (0 without a drain)."""
        return rate(self.drained_events, self.drain_s or 0.0)

    @property
    def whole_rate(self) -> float:
        """Events applied per second, from the first command sent to lag 0."""
        return rate(self.events, self.whole_s or 0.0)


def catch_up(
    samples: Sequence[LagSample], applied: Sequence[Applied], began: float, last_result: float
) -> CatchUp:
    """The figures of a run: ``samples`` and ``applied`` in time order, ``began`` the first
    send, ``last_result`` the burst's last result (monotonic seconds)."""
    peak = max(samples, key=lambda s: s.lag, default=LagSample(began, 0, 0))
    before = [s for s in samples if s.at <= last_result]
    zero = next((s for s in samples if s.at >= last_result and s.lag == 0), None)
    after = [a for a in applied if a.at > last_result and a.events]
    drain_s = None if zero is None else zero.at - last_result
    return CatchUp(
        events=sum(a.events for a in applied),
        burst_s=last_result - began,
        max_lag=peak.lag,
        max_lag_at_s=peak.at - began,
        lag_at_last_result=before[-1].lag if before else 0,
        drain_s=drain_s,
        last_applied_s=(after[-1].at - last_result) if after else None,
        drained_events=sum(a.events for a in after),
        drain_batches=len(after),
        burst_batches=sum(1 for a in applied if a.at <= last_result and a.events),
        whole_s=None if zero is None else zero.at - began,
    )


def cpu_between(first: LagSample, last: LagSample, cores: int) -> dict[str, float]:
    """Cores used between two samples by each process group, ``busy`` (share of the machine's
    cores, 0-1) and ``rest`` (cores busy beyond those groups)."""
    seconds = last.at - first.at
    if seconds <= 0:
        return {}
    used = {
        name: (last.cpu[name] - first.cpu[name]) / seconds for name in first.cpu if name in last.cpu
    }
    busy = busy_share(first.ticks, last.ticks)
    if busy is not None:
        used["rest"] = max(0.0, busy * cores - sum(used.values()))
        used["busy"] = busy
    return used


# -- the corner ----------------------------------------------------------------------------------


@dataclass
class ServeLog:
    """Reads the serve process's JSON lines: the projector's batches, errors for the report."""

    stream: IO[bytes]
    applied: list[Applied] = field(default_factory=list)
    writer_events: int = 0
    assigned_at: float | None = None
    """When the projector's first ``partitions assigned`` line was read."""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def run(self) -> None:
        for record in log_records(self.stream, self.tail):
            message = record.get("event")
            if message == "batch projected":
                self.applied.append(
                    Applied(
                        time.monotonic(),
                        int(record.get("events", 0)),
                        float(record.get("duration_ms", 0.0)),
                    )
                )
            elif message == "batch committed":
                self.writer_events += int(record.get("events", 0))
            elif (
                message == "partitions assigned"
                and record.get("component") == "projector"
                and self.assigned_at is None
            ):
                self.assigned_at = time.monotonic()


class LagSampler(threading.Thread):
    """Samples the projector's lag and the CPU every :data:`SAMPLE_EVERY_S` until stopped."""

    def __init__(self, scratch: Settings, dsn: str, roots: Mapping[str, int]) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self.scratch = scratch
        self.dsn = dsn
        self.roots = dict(roots)
        self.names = [p.name for p in all_projections()]
        self.samples: list[LagSample] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        reader = committed_reader(self.scratch, Component.ADMIN)
        conn = connect(self.dsn)
        conn.autocommit = True
        topic = self.scratch.topic("events")
        tps = [TopicPartition(topic, p) for p in range(self.scratch.partitions)]
        try:
            while not self.stop.is_set():
                began = time.monotonic()
                ends = {tp.partition: int(o) for tp, o in reader.end_offsets(tps).items()}
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT projection, partition, next_offset FROM proj.offsets"
                        " WHERE topic = %s",
                        (topic,),
                    )
                    stored = {(n, p): int(o) for n, p, o in cur.fetchall()}
                cpu = {name: tree_cpu_now(pid) for name, pid in self.roots.items()}
                own = os.times()
                cpu["bench"] = own.user + own.system  # this process (client, readers, sampler)
                self.samples.append(
                    LagSample(
                        time.monotonic(),
                        lag_of(ends, stored, self.names),
                        sum(ends.values()),
                        {k: v for k, v in cpu.items() if v is not None},
                        machine_cpu_ticks(),
                    )
                )
                self.stop.wait(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - began)))
        except BaseException as exc:
            self.error = exc
        finally:
            reader.close()
            conn.close()

    def latest(self) -> LagSample | None:
        """The last sample taken."""
        return self.samples[-1] if self.samples else None


class ResultWatcher(threading.Thread):
    """Notes when each result arrives on the results topic (from its beginning)."""

    def __init__(self, scratch: Settings, progress: Progress) -> None:
        super().__init__(name="results-watcher", daemon=True)
        self.scratch = scratch
        self.progress = progress
        self.answered: set[str] = set()
        self.last_at = 0.0
        self.count = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        import orjson

        reader = committed_reader(self.scratch, Component.ADMIN, fetch_max_wait_ms=10)
        try:
            tps = [
                TopicPartition(self.scratch.topic("results"), p)
                for p in range(self.scratch.partitions)
            ]
            reader.assign(tps)
            reader.seek_to_beginning(*tps)
            while not self.stop.is_set():
                polled = reader.poll(timeout_ms=100, max_records=10_000)
                now = time.monotonic()
                count = 0
                for records in polled.values():
                    for record in records:
                        value: dict[str, Any] = orjson.loads(record.value)
                        self.answered.add(str(value.get("command_id", "")))
                        count += 1
                if count:
                    self.count += count
                    self.last_at = now
                    self.progress.advance(count)
        except BaseException as exc:
            self.error = exc
        finally:
            reader.close()


@contextmanager
def serve_corner(
    scratch: Settings, dsn: str, directory: Path, *, writer: bool = True
) -> Iterator[tuple[int, ServeLog]]:
    """``supportes serve --writer --projector`` (``--projector`` alone without ``writer``) on
    the corner, its log read as it comes; yields once it is ready and its groups are stable
    (with ``writer``; alone, at once) (its pid, its log); stopped afterwards."""
    ready = directory / "serve.ready"
    env = {
        **os.environ,
        **child_env(scratch),
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_LOG_FORMAT": "json",
        "SUPPORTES_LOG_LEVEL": "info",
    }
    command = [
        str(Path(sys.executable).parent / "supportes"),
        "serve",
        *(["--writer"] if writer else []),
        "--projector",
        "--group-id",
        f"{scratch.topic_prefix}-writer",
        "--ready-file",
        str(ready),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    log = ServeLog(process.stdout)
    reader = threading.Thread(target=log.run, name="serve-log", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while writer and not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(f"{NAME}: serve exited {process.returncode}: {_tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{NAME}: serve not ready in {STARTUP_TIMEOUT_S:g} s")
            time.sleep(0.2)
        if writer:
            groups = [f"{scratch.topic_prefix}-writer", group_for(scratch)]
            _wait_stable(scratch, groups, deadline)
        yield process.pid, log
    finally:
        stop_process(process)
        reader.join(10)
        process.stdout.close()


def _tail(log: ServeLog) -> str:
    return " | ".join(list(log.tail)[-3:])


def _wait_stable(scratch: Settings, groups: list[str], deadline: float) -> None:
    """Until every group is stable with one member (it holds every partition then)."""
    with admin_client(scratch) as admin:
        while time.monotonic() < deadline:
            described = admin.describe_groups(groups)
            if all(
                described.get(g, {}).get("group_state") == "Stable"
                and len(described.get(g, {}).get("members", [])) == 1
                for g in groups
            ):
                return
            time.sleep(0.3)
    raise TimeoutError(f"{NAME}: groups {groups} not stable in time")


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Run:
    """What one burst measured."""

    commands: int
    send_s: float
    results: int
    figures: CatchUp
    samples: list[LagSample]
    applied: list[Applied]
    last_result: float
    began: float
    writer_events: int
    timeline_rows: int
    replay: Replay | None = None
    drains: list[Drain] = field(default_factory=list)
    replays: list[Replay] = field(default_factory=list)
    """The rebuilds alternating with :attr:`drains` (the first is :attr:`replay`)."""


@dataclass(frozen=True)
class Drain:
    """A live projector started on a fresh database over the whole log."""

    events: int
    seconds: float
    """From its partitions' assignment to the first sample at lag 0."""
    start_s: float
    """From its process start to its partitions' assignment."""
    batches: list[Applied]
    cpu: dict[str, float]
    """Cores used from the assignment to lag 0 (see :func:`cpu_between`)."""

    @property
    def rate(self) -> float:
        """Events per second from the assignment to lag 0."""
        return rate(self.events, self.seconds)


def projector_catch_up(settings: Settings, commands: int, *, seed: int = SEED) -> Result:
    """A burst of ``commands`` against a live writer and projector: lag and its drain, beside
    the replay rate of the same log."""
    result = Result(
        NAME,
        params={
            "commands": commands,
            "partitions": settings.partitions,
            "sample_every_s": SAMPLE_EVERY_S,
            "projector_batch": settings.projector_batch,
            "projector_connections": settings.projector_connections,
        },
    )
    envelopes = list(TrafficGenerator(seed=seed).commands(commands))
    with scratch_topics(settings) as scratch_kafka:
        with (
            scratch_database(settings) as dsn,
            tempfile.TemporaryDirectory(prefix="supportes-catch-up-") as temp,
        ):
            scratch = scratch_kafka.model_copy(update={"pg_dsn": dsn})
            migrate_database(dsn)
            with serve_corner(scratch, dsn, Path(temp)) as (serve_pid, serve_log):
                run = _burst(scratch, dsn, serve_pid, serve_log, envelopes)
            run.timeline_rows = _timeline_rows(dsn)
        events = run.figures.events
        for number in range(1, DRAIN_ROUNDS + 1):
            for live in (True, False) if number % 2 else (False, True):
                label = f" {number}/{DRAIN_ROUNDS}"
                if live:
                    run.drains.append(_live_drain(settings, scratch_kafka, events, label))
                    continue
                with scratch_database(settings) as replay_dsn:
                    migrate_database(replay_dsn)
                    run.replays.append(
                        replay_in_child(
                            scratch_kafka, replay_dsn, events, bench=NAME, label=f" same log{label}"
                        )
                    )
        run.replay = run.replays[0]
    _metrics(result, run)
    drain_metrics(result, run)
    return result


def _live_drain(settings: Settings, scratch_kafka: Settings, events: int, label: str) -> Drain:
    """``supportes serve --projector`` on a fresh database over the whole log, to lag 0."""
    with (
        scratch_database(settings) as dsn,
        tempfile.TemporaryDirectory(prefix="supportes-catch-up-") as temp,
    ):
        scratch = scratch_kafka.model_copy(update={"pg_dsn": dsn})
        migrate_database(dsn)
        progress = Progress(NAME, f"live drain of {short_count(events)}{label} (serve)", events)
        sampler: LagSampler | None = None
        began = time.monotonic()
        with serve_corner(scratch, dsn, Path(temp), writer=False) as (pid, log):
            sampler = LagSampler(scratch, dsn, {"serve": pid, **stack_pids(scratch)})
            sampler.start()
            try:
                deadline = time.monotonic() + 120.0 + events / 200
                while True:
                    latest = sampler.latest()
                    done = sum(a.events for a in log.applied)
                    progress.advance(done - progress.done)
                    if latest is not None and latest.lag == 0 and latest.end > 0:
                        break
                    if sampler.error is not None:
                        raise RuntimeError(f"{NAME}: lag sampler failed: {sampler.error}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{NAME}: live drain not at lag 0 in time")
                    time.sleep(0.05)
            finally:
                sampler.stop.set()
                sampler.join(10)
        progress.finish()
    assigned = log.assigned_at if log.assigned_at is not None else began
    zero = next(s for s in sampler.samples if s.lag == 0 and s.end > 0)
    first = next((s for s in sampler.samples if s.at >= assigned), sampler.samples[0])
    return Drain(
        events=sum(a.events for a in log.applied),
        seconds=zero.at - assigned,
        start_s=assigned - began,
        batches=[a for a in log.applied if a.events],
        cpu=cpu_between(first, zero, os.cpu_count() or 1),
    )


def _burst(
    scratch: Settings,
    dsn: str,
    serve_pid: int,
    serve_log: ServeLog,
    envelopes: list[dict[str, Any]],
) -> Run:
    expected = {str(e["command_id"]) for e in envelopes}
    progress = Progress(NAME, f"burst of {short_count(len(envelopes))} commands", len(envelopes))
    watcher = ResultWatcher(scratch, progress)
    sampler = LagSampler(scratch, dsn, {"serve": serve_pid, **stack_pids(scratch)})
    watcher.start()
    sampler.start()
    try:
        while sampler.latest() is None:
            time.sleep(0.05)
        began = time.monotonic()
        with SupportesClient(scratch) as client:
            client.send(envelopes)
        send_s = time.monotonic() - began
        deadline = began + 120.0 + len(envelopes) / 200
        while not (expected <= watcher.answered and time.monotonic() - watcher.last_at >= QUIET_S):
            _check(watcher, sampler, deadline, "results")
            time.sleep(0.1)
        progress.finish()
        last_result = watcher.last_at
        drain = Progress(
            NAME, "drain (lag to 0, offsets)", max(1, _lag_near(sampler.samples, last_result))
        )
        while True:
            latest = sampler.latest()
            if latest is not None:
                drain.advance(max(0, drain.total - latest.lag - drain.done))
                if latest.at >= last_result and latest.lag == 0:
                    break
            _check(watcher, sampler, deadline, "lag 0")
            time.sleep(0.05)
        drain.finish()
        time.sleep(2 * SAMPLE_EVERY_S)  # a sample or two at rest
    finally:
        sampler.stop.set()
        watcher.stop.set()
        sampler.join(10)
        watcher.join(10)
    return Run(
        commands=len(envelopes),
        send_s=send_s,
        results=watcher.count,
        figures=catch_up(sampler.samples, serve_log.applied, began, last_result),
        samples=list(sampler.samples),
        applied=list(serve_log.applied),
        last_result=last_result,
        began=began,
        writer_events=serve_log.writer_events,
        timeline_rows=0,
    )


def _lag_near(samples: Sequence[LagSample], at: float) -> int:
    before = [s.lag for s in samples if s.at <= at]
    return before[-1] if before else 0


def _check(watcher: ResultWatcher, sampler: LagSampler, deadline: float, what: str) -> None:
    for thread in (watcher, sampler):
        if thread.error is not None:
            raise RuntimeError(f"{NAME}: {thread.name} failed: {thread.error}") from thread.error
    if time.monotonic() > deadline:
        raise TimeoutError(f"{NAME}: no {what} in time")


def _timeline_rows(dsn: str) -> int:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM proj.case_timeline)"
                " + (SELECT count(*) FROM proj.root_cause_timeline)"
            )
            row = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    return int(row[0]) if row else 0


def _metrics(result: Result, run: Run) -> None:
    fig = run.figures
    cores = os.cpu_count() or 1
    ok = fig.events == run.writer_events == run.timeline_rows
    check = (
        "ok"
        if ok
        else f"MISMATCH written {run.writer_events:,}, applied {fig.events:,},"
        f" timeline rows {run.timeline_rows:,}"
    )
    result.add(
        "events produced",
        run.writer_events,
        "events",
        f"by the writer from {run.commands:,} commands ({run.results:,} results, follow-ons"
        f" included); applied by the projector = timeline rows: check {check}",
    )
    result.add(
        "burst",
        fig.burst_s,
        "s",
        f"first command sent to the last result; {rate(run.results, fig.burst_s):,.0f} results/s,"
        f" {rate(run.writer_events, fig.burst_s):,.0f} events/s; the client sent all"
        f" {run.commands:,} in {run.send_s:.1f} s",
    )
    projections = len(all_projections())
    result.add(
        "max lag",
        fig.max_lag,
        "offsets",
        f"sum over {projections} projections x partitions of end - stored (as `projections"
        f" status`; {fig.max_lag / projections:,.0f} per projection), every"
        f" {SAMPLE_EVERY_S:g} s; at {fig.max_lag_at_s:.1f} s after the first send"
        f" ({fig.max_lag_at_s - fig.burst_s:+.1f} s from the last result); at the last"
        f" result {fig.lag_at_last_result:,}",
    )
    drain = "never" if fig.drain_s is None else f"{fig.drain_s:.2f}"
    last = "-" if fig.last_applied_s is None else f"{fig.last_applied_s:.2f}"
    result.add(
        "last result -> lag 0",
        fig.drain_s if fig.drain_s is not None else float("nan"),
        "s",
        f"{drain} s to the first sample at lag 0; the last batch with events was read"
        f" {last} s after the last result ({fig.drain_batches} batches after it)",
    )
    result.add(
        "drain rate",
        fig.drain_rate,
        "events/s",
        f"{fig.drained_events:,} events applied after the last result / {drain} s",
    )
    mean_drain = _mean_batch([a for a in run.applied if a.at > run.last_result and a.events])
    mean_burst = _mean_batch([a for a in run.applied if a.at <= run.last_result and a.events])
    result.add(
        "whole-burst rate",
        fig.whole_rate,
        "events/s",
        f"{fig.events:,} events / {fig.whole_s or 0:.1f} s from the first send to lag 0;"
        f" batches: {fig.burst_batches} during the burst ({mean_burst}),"
        f" {fig.drain_batches} draining ({mean_drain})",
    )
    if run.replay is not None:
        replay = run.replay
        result.add(
            "replay rate",
            replay.events_per_s,
            "events/s",
            f"`supportes projections rebuild` of the same log into a fresh database after the"
            f" corner stopped: {replay.events:,} events, {replay.seconds:.1f} s own clock",
        )
        result.add(
            "drain / replay",
            100 * rate(fig.drain_rate, replay.events_per_s),
            "%",
            f"whole-burst / replay {100 * rate(fig.whole_rate, replay.events_per_s):.1f} %",
        )
    _cpu_metrics(result, run, cores)


def drain_metrics(result: Result, run: Run) -> None:
    """The live drains of the whole log beside the rebuilds of the same rounds."""
    if not run.drains:
        return
    rates = [d.rate for d in run.drains]
    ok = all(d.events == run.figures.events for d in run.drains)
    last = run.drains[-1]
    result.add(
        "live drain of the log",
        median(rates),
        "events/s",
        f"`serve --projector` on a fresh database, partitions assigned -> lag 0, median of"
        f" {len(rates)}: {', '.join(f'{r:,.0f}' for r in rates)}; start to assignment"
        f" {', '.join(f'{d.start_s:.1f}' for d in run.drains)} s; batches"
        f" {_mean_batch(last.batches)}; check {'ok' if ok else 'MISMATCH events'}",
    )
    replays = [r.events_per_s for r in run.replays]
    result.add(
        "rebuild of the log",
        median(replays),
        "events/s",
        f"alternating with the live drains, median of {len(replays)}:"
        f" {', '.join(f'{r:,.0f}' for r in replays)}",
    )
    ratios = [100 * rate(d.rate, r) for d, r in zip(run.drains, replays, strict=False)]
    result.add(
        "live drain / rebuild",
        median(ratios),
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)})",
    )
    used = last.cpu
    if used:
        result.add(
            "machine busy (live drain)",
            100 * used.get("busy", 0.0),
            "%",
            f"last drain, in cores: serve (projector) {used.get('serve', 0):.2f}, PostgreSQL"
            f" {used.get('postgresql', 0):.2f}, broker {used.get('broker', 0):.2f}, this"
            f" benchmark {used.get('bench', 0):.2f}, the rest {used.get('rest', 0):.2f}",
        )


def _mean_batch(applied: Sequence[Applied]) -> str:
    if not applied:
        return "none"
    events = median(a.events for a in applied)
    ms = median(a.duration_ms for a in applied)
    return f"median {events:,.0f} events, {ms:.0f} ms"


def _cpu_metrics(result: Result, run: Run, cores: int) -> None:
    """Where the CPU went during the burst and while draining."""
    samples = run.samples
    if len(samples) < 2:
        return
    first = next((s for s in samples if s.at >= run.began), samples[0])
    at_last = max((s for s in samples if s.at <= run.last_result), key=lambda s: s.at)
    end = run.last_result + (run.figures.drain_s or 0.0)
    zero = next((s for s in samples if s.at >= end), samples[-1])
    for label, a, b in (("burst", first, at_last), ("drain", at_last, zero)):
        used = cpu_between(a, b, cores)
        if not used:
            continue
        result.add(
            f"machine busy ({label})",
            100 * used.get("busy", 0.0),
            "%",
            f"of {cores} cores, {b.at - a.at:.1f} s between samples; in cores: serve (writer +"
            f" projector) {used.get('serve', 0):.2f}, PostgreSQL {used.get('postgresql', 0):.2f},"
            f" broker {used.get('broker', 0):.2f}, this benchmark (client, readers)"
            f" {used.get('bench', 0):.2f}, the rest {used.get('rest', 0):.2f}",
        )
