"""The projection replay benchmark (issue 5): realistic events replayed into every projection.

1. **Events from the domain.** The traffic generator's commands go through ``parse_command`` and
   ``decide`` (follow-on commands such as ``AttachCase`` are decided too), against aggregates
   cached the way the writer caches them; only the sealed wire envelopes are kept. They are
   streamed (never all in memory) to a scratch events topic by ONE transactional producer, on
   their aggregates' partitions (``partition_for``), keyed by aggregate id, values
   ``canonical_json(envelope)``, 500 events per transaction.
2. **Replay.** ``supportes projections rebuild`` runs as a child process against a fresh, migrated
   scratch database: one projector process, all projections, from offset 0 to the end of the
   log into a shadow schema, then swapped in. Events and seconds come from the child's own
   ``rebuild swapped in`` log line (the interpreter's start is not in them). Its memory is
   sampled from ``/proc/<pid>/status`` every :data:`SAMPLE_EVERY_S`: ``VmRSS`` along the way,
   and the peak is the highest ``VmHWM`` seen (the child's own high-water mark since its
   ``exec``). Not ``ru_maxrss``: Linux carries the high-water mark of the memory a child had
   before ``exec`` into it, and that memory was this benchmark process's (a child sleeping
   0.3 s under a parent holding 500 MiB reports ``ru_maxrss`` 510 MiB, ``VmHWM`` 9 MiB).
3. **Ceilings on the same data.** A bare kafka-python read_committed read of the same topic
   (:func:`~supportes.bench.kafka_ceilings.read_to_end`) and
   :func:`~supportes.bench.pg_ceilings.pg_copy_ceiling` with as many timeline-shaped rows as
   there are events.

Two points: 10 % of the size, then the full size. Between them the same event stream goes on
into the same topic, and the full log is replayed again from offset 0 into a new database, so
the two points differ only in the number of events (memory flat = the same peak RSS).
"""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from supportes.aggregates import (
    AnyAggregate,
    Case,
    CaseStatus,
    Rejection,
    canonical_json,
    decide,
    last_hash_of,
    parse_command,
)
from supportes.bench.kafka_ceilings import TXN_TIMEOUT_S, BenchTimeoutError, read_to_end
from supportes.bench.pg_ceilings import pg_copy_ceiling
from supportes.bench.progress import Progress
from supportes.bench.replay_helpers import (
    KIB_PER_MIB,
    growth_pct,
    parse_log_line,
    parse_proc_status,
    rss_when,
    short_count,
    steady_rss,
    tenths,
)
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.clients import Component, transactional_producer
from supportes.messaging.guard import guarded
from supportes.messaging.routing import key_of, partition_for
from supportes.projections.registry import all_projections
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

NAME = "projection-replay"
PER_TRANSACTION = 500
CACHE_SIZE = 20_000
"""Aggregates kept while deciding (closed cases leave at once), as the writer's cache."""
MIN_RATE = 500.0
"""Events/s below which a phase counts as hung: its time bound is 120 s + events / MIN_RATE."""
SAMPLE_EVERY_S = 0.2
TARGET = 20_000


def _bound_s(events: int) -> float:
    return 120.0 + events / MIN_RATE


# -- 1. events from the domain -------------------------------------------------------------------


@dataclass
class DomainStats:
    """What deciding the generated commands did."""

    commands: int = 0
    rejected: int = 0
    follow_ons: int = 0
    events: int = 0


class DomainEvents:
    """An endless stream of sealed event envelopes decided from realistic commands.

    Deterministic for a seed. Memory stays bounded: the generator keeps only its active cases,
    and at most ``cache_size`` aggregates are kept here (a case leaves when it is closed).
    """

    def __init__(
        self, seed: int = 2026, *, audit_key: bytes | None = None, cache_size: int = CACHE_SIZE
    ) -> None:
        self.traffic = TrafficGenerator(seed=seed)
        self.audit_key = audit_key
        self.cache_size = cache_size
        self.stats = DomainStats()
        self._cache: OrderedDict[UUID, AnyAggregate] = OrderedDict()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self.traffic.commands(sys.maxsize):
            pending: deque[dict[str, Any]] = deque([raw])
            while pending:
                yield from self._decide(pending.popleft(), pending)

    def _decide(self, raw: dict[str, Any], pending: deque[dict[str, Any]]) -> list[dict[str, Any]]:
        self.stats.commands += 1
        try:
            command = parse_command(raw)
            current = self._cache.get(command.aggregate_id)
            decision = decide(
                command, current, last_hash=last_hash_of(current), audit_key=self.audit_key
            )
        except Rejection:
            self.stats.rejected += 1
            return []
        aggregate = decision.aggregate
        if isinstance(aggregate, Case) and aggregate.status is CaseStatus.CLOSED:
            self._cache.pop(command.aggregate_id, None)
        else:
            self._cache[command.aggregate_id] = aggregate
            self._cache.move_to_end(command.aggregate_id)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        pending.extend(decision.follow_on_commands)
        self.stats.follow_ons += len(decision.follow_on_commands)
        self.stats.events += len(decision.events)
        return decision.events


@dataclass
class Published:
    """What the generate+publish phases wrote, summed over the phases."""

    events: int = 0
    value_bytes: int = 0
    transactions: int = 0
    seconds: float = 0.0


def publish(
    settings: Settings,
    events: Iterator[dict[str, Any]],
    count: int,
    published: Published,
    *,
    per_transaction: int = PER_TRANSACTION,
) -> None:
    """Take ``count`` envelopes from ``events`` and write them to ``<prefix>.events``.

    One transactional producer (the writer's settings), ``per_transaction`` events per
    transaction, each event on its aggregate's partition. Adds to ``published``.
    """
    topic = settings.topic("events")
    partition = functools.lru_cache(maxsize=65_536)(
        functools.partial(partition_for, partitions=settings.partitions)
    )
    producer = transactional_producer(
        settings, Component.ADMIN, f"{settings.topic_prefix}-generate"
    )
    progress = Progress(NAME, f"generate+publish {short_count(count)}", count)
    deadline = time.monotonic() + _bound_s(count)
    try:
        guarded(producer.init_transactions, timeout_s=TXN_TIMEOUT_S, what="init_transactions")
        started = time.perf_counter()
        in_transaction = sent = 0
        for envelope in itertools.islice(events, count):
            if in_transaction == 0:
                producer.begin_transaction()
            aggregate_id = envelope["aggregate_id"]
            value = canonical_json(envelope)
            producer.send(
                topic, value=value, key=key_of(aggregate_id), partition=partition(aggregate_id)
            )
            published.value_bytes += len(value)
            in_transaction += 1
            sent += 1
            if in_transaction == per_transaction:
                guarded(producer.commit_transaction, timeout_s=TXN_TIMEOUT_S, what="commit")
                published.transactions += 1
                in_transaction = 0
                progress.advance(per_transaction)
                if time.monotonic() > deadline:
                    raise BenchTimeoutError(f"{NAME}: generate+publish did not finish in time")
        if in_transaction:
            guarded(producer.commit_transaction, timeout_s=TXN_TIMEOUT_S, what="commit")
            published.transactions += 1
        published.seconds += time.perf_counter() - started
        published.events += sent
        progress.done = sent
        progress.finish()
    finally:
        producer.close(timeout=5)
    if sent != count:
        raise RuntimeError(f"{NAME}: the event stream ended after {sent} of {count} events")


# -- 2. replay in a child process ----------------------------------------------------------------


@dataclass
class Replay:
    """One ``supportes projections rebuild`` child: what it said and what it used."""

    events: int
    seconds: float
    wall_s: float
    peak_rss_kib: int
    samples: list[tuple[int, int]]
    batches: int
    batch_ms: list[float]
    peak_at: int
    parked: int = 0
    timeline_rows: int = 0
    projection_rows: int = 0

    @property
    def events_per_s(self) -> float:
        """Replay speed by the child's own clock."""
        return rate(self.events, self.seconds)


@dataclass
class _ChildLog:
    """Reads the child's JSON log lines: progress, batch counts, the final report."""

    stream: IO[bytes]
    progress: Progress
    done: int = 0
    batches: int = 0
    batch_ms: list[float] = field(default_factory=list)
    report: dict[str, Any] | None = None
    peak_kib: int = 0
    peak_at: int = 0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode(errors="replace").rstrip()
            record = parse_log_line(line)
            if record is None:
                if line:
                    self.tail.append(line)
                continue
            message = record.get("event")
            if message == "batch projected":
                events = int(record.get("events", 0))
                self.batches += 1
                self.done += events
                self.batch_ms.append(float(record.get("duration_ms", 0.0)))
                self.progress.advance(events)
            elif message == "rebuild swapped in":
                self.report = record
            elif record.get("level") in ("warning", "error", "critical"):
                self.tail.append(line)


def _child_env(scratch: Settings, dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        "SUPPORTES_TOPIC_PREFIX": scratch.topic_prefix,
        "SUPPORTES_PARTITIONS": str(scratch.partitions),
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_KAFKA_BOOTSTRAP": scratch.bootstrap_servers,
        "SUPPORTES_LOG_FORMAT": "json",
        "SUPPORTES_LOG_LEVEL": "info",
    }


def _memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS``/``VmHWM`` of a running process (empty once it is gone or a zombie)."""
    try:
        return parse_proc_status(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return {}


def _reap(
    process: subprocess.Popen[bytes],
    log: _ChildLog,
    samples: list[tuple[int, int]],
    deadline: float,
) -> int:
    """Wait for the child, sampling ``(events done, VmRSS)`` and its peak ``VmHWM`` into
    ``log``; return its exit code."""
    while True:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code  # reaped here: Popen must not wait for it again
            return code
        memory = _memory_kib(process.pid)
        if memory.get("VmRSS"):
            samples.append((log.done, memory["VmRSS"]))
        if memory.get("VmHWM", 0) > log.peak_kib:
            log.peak_kib, log.peak_at = memory["VmHWM"], log.done
        if time.monotonic() > deadline:
            raise BenchTimeoutError(f"{NAME}: the replay did not finish in time")
        time.sleep(SAMPLE_EVERY_S)


def replay_in_child(scratch: Settings, dsn: str, events: int) -> Replay:
    """Run ``supportes projections rebuild`` on ``scratch``'s topics into ``dsn``; measure it."""
    command = [str(Path(sys.executable).parent / "supportes"), "projections", "rebuild"]
    progress = Progress(NAME, f"replay {short_count(events)} (child process)", events)
    samples: list[tuple[int, int]] = []
    began = time.monotonic()
    process = subprocess.Popen(
        command, env=_child_env(scratch, dsn), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    log = _ChildLog(process.stdout, progress)
    reader = threading.Thread(target=log.run, name="replay-log", daemon=True)
    reader.start()
    try:
        code = _reap(process, log, samples, began + _bound_s(events))
    except BaseException:
        if process.returncode is None:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -9
        raise
    finally:
        wall = time.monotonic() - began
        reader.join(10)
        process.stdout.close()
    progress.finish()
    report = log.report
    if code != 0 or report is None:
        tail = " | ".join(list(log.tail)[-3:])
        raise RuntimeError(f"{NAME}: `supportes projections rebuild` exited {code}: {tail}")
    replay = Replay(
        events=int(report["events"]),
        seconds=float(report["seconds"]),
        wall_s=wall,
        peak_rss_kib=log.peak_kib,
        samples=samples,
        batches=log.batches,
        batch_ms=log.batch_ms,
        peak_at=log.peak_at,
    )
    _count_rows(dsn, replay)
    return replay


def _count_rows(dsn: str, replay: Replay) -> None:
    """Rows the replay left in ``proj``: timeline rows (one per event), all rows, parked."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            counts: dict[str, int] = {}
            for table in [t for p in all_projections() for t in p.tables] + ["parked_events"]:
                cur.execute(f'SELECT count(*) FROM proj."{table}"')
                row = cur.fetchone()
                counts[table] = int(row[0]) if row else 0
        conn.commit()
    finally:
        conn.close()
    replay.parked = counts.pop("parked_events")
    replay.timeline_rows = counts["case_timeline"] + counts["root_cause_timeline"]
    replay.projection_rows = sum(counts.values())


# -- 3. ceilings on the same data ----------------------------------------------------------------


@dataclass(frozen=True)
class Ceilings:
    """Bare kafka-python read of the same topic; bare COPY of as many rows."""

    read_per_s: float
    read_note: str
    copy_per_s: float
    copy_batched_per_s: float
    batch_rows: int


def ceilings(settings: Settings, scratch: Settings, events: int) -> Ceilings:
    """Read the scratch events topic bare, then ``pg_copy_ceiling`` with ``events`` rows."""
    progress = Progress(NAME, f"bare read {short_count(events)}", events)
    count, size, wall = read_to_end(
        scratch,
        scratch.topic("events"),
        scratch.partitions,
        max_poll_records=settings.projector_batch,
        check_crcs=True,
        progress=progress,
        deadline=time.monotonic() + _bound_s(events),
    )
    progress.finish()
    check = "ok" if count == events else f"MISMATCH read {count:,}"
    copy = pg_copy_ceiling(
        settings, rows=events, batch_rows=settings.projector_batch, timeout_s=_bound_s(events)
    )
    return Ceilings(
        read_per_s=rate(count, wall),
        read_note=f"{size / count if count else 0:.0f} B values, {wall:.1f} s; check {check}",
        copy_per_s=copy.value("rows (one COPY)"),
        copy_batched_per_s=copy.value(f"rows (COPY+COMMIT per {settings.projector_batch})"),
        batch_rows=settings.projector_batch,
    )


# -- the benchmark -------------------------------------------------------------------------------


def projection_replay(settings: Settings, events: int, *, seed: int = 2026) -> Result:
    """Replay 10 % of ``events``, then all of them, into every projection; ceilings beside."""
    sizes = [max(1000, round(events / 10)), events]
    result = Result(
        NAME,
        params={
            "events": sizes,
            "partitions": settings.partitions,
            "per_transaction": PER_TRANSACTION,
            "seed": seed,
        },
    )
    audit_key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
    domain = DomainEvents(seed, audit_key=audit_key)
    stream = iter(domain)
    published = Published()
    points: list[tuple[int, Replay, Ceilings]] = []
    with scratch_topics(settings) as scratch:
        for size in sizes:
            publish(scratch, stream, size - published.events, published)
            with scratch_database(settings) as dsn:
                migrate_database(dsn)
                replay = replay_in_child(scratch, dsn, size)
            points.append((size, replay, ceilings(settings, scratch, size)))
    for size, replay, ceiling in points:
        _point_metrics(result, size, replay, ceiling)
    _summary_metrics(result, points, published, domain.stats)
    return result


def _point_metrics(result: Result, size: int, replay: Replay, ceiling: Ceilings) -> None:
    label = short_count(size)
    ok = replay.events == size and replay.timeline_rows == size and replay.parked == 0
    check = (
        "ok"
        if ok
        else (
            f"MISMATCH events {replay.events:,}, timeline rows {replay.timeline_rows:,},"
            f" parked {replay.parked:,}"
        )
    )
    speed = replay.events_per_s
    result.add(
        f"replay {label}",
        speed,
        "events/s",
        f"1 rebuild process, all projections; {replay.seconds:.1f} s own clock"
        f" (process {replay.wall_s:.1f} s); check {check}",
    )
    along = [
        "-" if rss is None else f"{rss / KIB_PER_MIB:.0f}"
        for rss in (rss_when(replay.samples, size * q // 4) for q in (1, 2, 3, 4))
    ]
    result.add(
        f"peak RSS {label}",
        replay.peak_rss_kib / KIB_PER_MIB,
        "MiB",
        f"child's VmHWM, sampled every {SAMPLE_EVERY_S:g} s; reached with"
        f" {replay.peak_at:,} events done",
    )
    steady = steady_rss(replay.samples, size // 10)
    result.add(
        f"steady RSS {label}",
        (steady or 0) / KIB_PER_MIB,
        "MiB",
        f"median of {len(replay.samples)} VmRSS samples after 10% of the events;"
        f" at 25/50/75/100%: {'/'.join(along)} MiB",
    )
    if replay.batch_ms:
        first, last = tenths(replay.batch_ms)
        result.add(
            f"batch time {label}",
            sum(replay.batch_ms) / len(replay.batch_ms),
            "ms",
            f"mean of {len(replay.batch_ms)} batches; first/last 10%: {first:.0f}/{last:.0f} ms",
        )
    result.add(
        f"rows written {label}",
        replay.projection_rows / size if size else 0,
        "rows/event",
        f"{replay.projection_rows:,} rows in proj tables after the replay",
    )
    result.add(
        f"kafka read {label}",
        ceiling.read_per_s,
        "msg/s",
        f"bare read_committed read of the same topic, no group; {ceiling.read_note}",
    )
    result.add(
        f"pg COPY {label}",
        ceiling.copy_per_s,
        "rows/s",
        f"{size:,} timeline-shaped rows, one COPY; per {ceiling.batch_rows} + COMMIT: "
        f"{ceiling.copy_batched_per_s:,.0f} rows/s",
    )
    result.add(
        f"replay / kafka read {label}", 100 * rate(speed, ceiling.read_per_s), "%", "of the ceiling"
    )
    result.add(
        f"replay / pg COPY {label}",
        100 * rate(speed, ceiling.copy_per_s),
        "%",
        "of one timeline row per event by one COPY",
    )


def _summary_metrics(
    result: Result,
    points: list[tuple[int, Replay, Ceilings]],
    published: Published,
    stats: DomainStats,
) -> None:
    (small, small_replay, _), (large, large_replay, _) = points[0], points[-1]
    versus = f"{short_count(large)} vs {short_count(small)} events ({large // small}x)"
    steady = [
        steady_rss(r.samples, n // 10) or 0
        for n, r in ((small, small_replay), (large, large_replay))
    ]
    result.add(
        "steady RSS growth",
        growth_pct(*steady),
        "%",
        f"{versus}, flat = ~0: {steady[0] / KIB_PER_MIB:.0f} -> {steady[1] / KIB_PER_MIB:.0f} MiB"
        " (the short replay may end before its buffers reach steady size)",
    )
    quarter, full = (
        rss_when(large_replay.samples, large // 4),
        rss_when(large_replay.samples, large),
    )
    if quarter and full:
        result.add(
            f"RSS drift in {short_count(large)}",
            growth_pct(quarter, full),
            "%",
            f"VmRSS at 100% vs 25% of the {short_count(large)} replay, flat = ~0:"
            f" {quarter / KIB_PER_MIB:.0f} -> {full / KIB_PER_MIB:.0f} MiB",
        )
    result.add(
        "peak RSS growth",
        growth_pct(small_replay.peak_rss_kib, large_replay.peak_rss_kib),
        "%",
        f"{versus}: {small_replay.peak_rss_kib / KIB_PER_MIB:.0f} ->"
        f" {large_replay.peak_rss_kib / KIB_PER_MIB:.0f} MiB, VmHWM of each child",
    )
    result.add(
        "generate+publish",
        rate(published.events, published.seconds),
        "events/s",
        f"{published.events:,} events from {stats.commands:,} commands ({stats.rejected:,}"
        f" rejected, {stats.follow_ons:,} follow-ons); decide + canonical_json,"
        f" {PER_TRANSACTION}/txn, avg {published.value_bytes / max(1, published.events):.0f} B",
    )
    speed = large_replay.events_per_s
    verdict = "met" if speed >= TARGET else "NOT met"
    result.add("target", TARGET, "events/s", f"issue 5, at {short_count(large)} events: {verdict}")
