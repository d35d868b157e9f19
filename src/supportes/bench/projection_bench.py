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

4. **Encryption on (issue 16), at the first point's size.** The same seed's events again, each
   command's personal fields sealed before ``decide`` (:class:`Sealing`: per-customer keys in
   memory, as a front door would seal with the customer's key), into a topic of their own; the
   keys, wrapped by the KEK, go into the replay database's ``privacy.subject_keys`` after its
   migration, and the child gets ``SUPPORTES_KEK_FILE``. Plain and sealed are replayed
   :data:`SEALED_ROUNDS` times each, in alternating order (the first plain replay is the
   point's own); the ratio is the median of the rounds' ratios. The sealed replays must leave
   the same case texts as the plain ones (a digest of ``proj.case_view``'s personal columns)
   and none masked: a replay that cannot open (keys missing) would mask fast, and wrongly.

5. **audit verify (issue 20), at the full size** (:mod:`~supportes.bench.audit_bench`): the
   log indexed into the replay's database as the writer would, then ``supportes audit verify``
   with one and two worker processes, beside the same point's bare read.

6. **Parallel rebuild (issue 20), at the full size.** The same log replayed again with
   ``--workers 2`` and ``--workers 1`` in alternating rounds, the full point's replay as the
   first one-worker round: events/s, the ratio, the process tree's memory, the CPU split and
   the tables' checksums (:mod:`~supportes.bench.parallel_rebuild`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from supportes.bench.audit_bench import AuditRun, audit_metrics, audit_rounds
from supportes.bench.kafka_ceilings import read_to_end
from supportes.bench.output_ceiling import OutputCopy, output_copy_ceiling, projection_tables
from supportes.bench.parallel_rebuild import (
    WorkersComparison,
    workers_comparison,
    workers_metrics,
)
from supportes.bench.pg_ceilings import pg_copy_ceiling
from supportes.bench.pg_statements import StatementView, statement_view
from supportes.bench.progress import Progress
from supportes.bench.replay_child import SAMPLE_EVERY_S, Replay, replay_in_child, table_checksums
from supportes.bench.replay_events import (
    NAME,
    PER_TRANSACTION,
    DomainEvents,
    DomainStats,
    Published,
    bound_s,
    publish,
)
from supportes.bench.replay_helpers import (
    KIB_PER_MIB,
    growth_pct,
    rss_when,
    short_count,
    steady_rss,
    tenths,
)
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.sealed_replay import SealedComparison, sealed_comparison, sealed_metrics
from supportes.bench.stats import rate
from supportes.db.migrate import migrate_database
from supportes.privacy.kek import FileKeyWrapper
from supportes.settings import Settings

TARGET = 20_000


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
        deadline=time.monotonic() + bound_s(events),
    )
    progress.finish()
    check = "ok" if count == events else f"MISMATCH read {count:,}"
    copy = pg_copy_ceiling(
        settings, rows=events, batch_rows=settings.projector_batch, timeout_s=bound_s(events)
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
    wrapper = FileKeyWrapper.from_settings(settings)  # before the long work: a missing KEK fails
    domain = DomainEvents(seed, audit_key=audit_key)
    stream = iter(domain)
    published = Published()
    points: list[tuple[int, Replay, Ceilings]] = []
    comparison: SealedComparison | None = None
    parallel: WorkersComparison | None = None
    audits: list[AuditRun] = []
    seen = StatementView(reason="no full-size replay")
    output = OutputCopy()
    with scratch_topics(settings) as scratch:
        for size in sizes:
            publish(scratch, stream, size - published.events, published)
            full = size == sizes[-1]
            with scratch_database(settings) as dsn:
                migrate_database(dsn)
                with statement_view(settings, dsn) as statements:
                    replay = replay_in_child(scratch, dsn, size)
                sums = table_checksums(dsn) if full else None
                if full:
                    seen = statements
                    output = output_copy_ceiling(dsn, projection_tables())
                    audits = audit_rounds(scratch, dsn, size, bench=NAME)
            if sums is not None:
                parallel = workers_comparison(settings, scratch, size, replay, sums)
            if comparison is None:  # the first point's log, before it grows
                comparison = sealed_comparison(
                    settings, scratch, size, replay, seed=seed, audit_key=audit_key, wrapper=wrapper
                )
            points.append((size, replay, ceilings(settings, scratch, size)))
    for size, replay, ceiling in points:
        _point_metrics(result, size, replay, ceiling)
    _summary_metrics(result, points, published, domain.stats)
    size, replay, ceiling = points[-1]
    where_time_goes(result, size, replay, ceiling, seen)
    output_metrics(result, size, replay, output)
    if comparison is not None:
        sealed_metrics(result, comparison)
    if parallel is not None:
        workers_metrics(result, parallel)
    if audits:
        size, _, ceiling = points[-1]
        audit_metrics(result, size, audits, ceiling.read_per_s)
    return result


def output_metrics(result: Result, size: int, replay: Replay, output: OutputCopy) -> None:
    """The full replay beside a bare COPY of its own output tables."""
    if not output.seconds:
        return
    label = short_count(size)
    ceiling = output.events_per_s(replay.events)
    result.add(
        f"pg COPY of the output {label}",
        ceiling,
        "events/s",
        f"{output.rows:,} rows of the replay's {len(output.by_table)} tables COPYed bare into"
        f" empty copies (same indexes), one transaction, {output.seconds:.1f} s: {output.note()}",
    )
    result.add(
        f"replay / output COPY {label}",
        100 * rate(replay.events_per_s, ceiling),
        "%",
        "of writing the same rows bare: the share of PostgreSQL's least work the replay reaches",
    )


def where_time_goes(
    result: Result, size: int, replay: Replay, ceiling: Ceilings, statements: StatementView
) -> None:
    """The full replay's CPU per event (the child, PostgreSQL's servers) and what that bounds,
    and PostgreSQL's own view of its statement time by projection."""
    label = short_count(size)
    pg_cpu = replay.cpu.trees_s.get("postgresql") if replay.cpu else None
    if replay.events and pg_cpu:
        child_us = 1e6 * replay.cpu_s / replay.events
        pg_us = 1e6 * pg_cpu / replay.events
        bound = 1e6 / pg_us
        result.add(
            f"replay {label} CPU per event",
            child_us + pg_us,
            "us",
            f"rebuild process {child_us:.1f} us + PostgreSQL servers {pg_us:.1f} us; PostgreSQL"
            f" alone on a whole core would bound one process's replay at {bound:,.0f} events/s"
            f" = {100 * rate(bound, ceiling.read_per_s):.0f} % of the bare read",
        )
    if statements.available:
        result.add(
            f"replay {label} PostgreSQL statement time",
            statements.total_s,
            "s",
            f"pg_stat_statements by projection (a COPY's time includes receiving its rows):"
            f" {statements.note()}",
        )
    else:
        result.add(f"replay {label} PostgreSQL statement time", 0, "s", statements.reason)


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
