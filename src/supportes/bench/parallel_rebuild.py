"""The projection replay benchmark's parallel rebuild (issue 20): ``supportes projections rebuild
--workers 2`` beside ``--workers 1`` on the same full-size log.

Each replay goes into a fresh, migrated scratch database, as the point's own. Rounds alternate
the order (round 1: the point's own one-worker replay, then two workers; round 2: two, then
one; ...), so a slow minute of the shared machine counts against both; the ratio is the median
of the rounds' ratios. Each replay's tables are checksummed
(:func:`~supportes.bench.replay_child.table_checksums`) and must equal the first one-worker
replay's.

What bounds it is read from ``/proc`` over each replay (:mod:`~supportes.bench.process_tree`):
the machine's busy share of its cores, the CPU of the rebuild's process tree (its workers are
reaped into it), of PostgreSQL (every backend, the postmaster's tree) and of the broker; the
memory is the VmRSS summed over the tree, sampled, and the largest one process's VmHWM.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

from supportes.bench.progress import Progress
from supportes.bench.replay_child import SAMPLE_EVERY_S, Replay, replay_in_child, table_checksums
from supportes.bench.replay_events import NAME
from supportes.bench.replay_helpers import KIB_PER_MIB, short_count
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database
from supportes.db.migrate import migrate_database
from supportes.settings import Settings

WORKERS = 2
ROUNDS = 3

Checksums = dict[str, tuple[int, str]]


@dataclass
class WorkersComparison:
    """Replays of the same log with one and with :data:`WORKERS` workers, in round order."""

    size: int
    runs: dict[int, list[Replay]] = field(default_factory=dict)
    checksums: dict[int, list[Checksums]] = field(default_factory=dict)


def round_order(number: int) -> tuple[int, ...]:
    """The worker counts of round ``number`` (from 1) in running order: one worker first in odd
    rounds, :data:`WORKERS` first in even ones."""
    return (1, WORKERS) if number % 2 else (WORKERS, 1)


def workers_comparison(
    settings: Settings,
    scratch: Settings,
    size: int,
    first: Replay,
    first_sums: Checksums,
    *,
    rounds: int = ROUNDS,
) -> WorkersComparison:
    """Replay ``scratch``'s log of ``size`` events with one and :data:`WORKERS` workers, ``rounds``
    rounds each; ``first`` (with its tables' ``first_sums``) is round 1's one-worker replay."""
    comparison = WorkersComparison(size, {1: [first], WORKERS: []}, {1: [first_sums], WORKERS: []})
    progress = Progress(NAME, f"parallel rebuild {short_count(size)}", 2 * rounds - 1)
    for number in range(1, rounds + 1):
        for workers in round_order(number):
            if number == 1 and workers == 1:
                continue  # the point's own replay
            with scratch_database(settings) as dsn:
                migrate_database(dsn)
                replay = replay_in_child(
                    scratch, dsn, size, workers=workers, label=f" round {number}/{rounds}"
                )
                comparison.checksums[workers].append(table_checksums(dsn))
            comparison.runs[workers].append(replay)
            progress.advance(1)
    progress.finish()
    return comparison


def round_ratios(ones: Sequence[float], many: Sequence[float]) -> list[float]:
    """Per round, ``many`` / ``ones`` in percent (rounds paired in order; a round whose one-
    worker figure is 0 is left out)."""
    return [100 * m / o for o, m in zip(ones, many, strict=False) if o > 0]


def mismatches(reference: Checksums, other: Checksums) -> list[str]:
    """The tables whose rows or checksum differ between two replays (or are in one only)."""
    return sorted(t for t in reference.keys() | other.keys() if reference.get(t) != other.get(t))


def _plural(workers: int) -> str:
    return f"{workers} worker{'s' if workers > 1 else ''}"


def workers_metrics(result: Result, comparison: WorkersComparison) -> None:
    """Events/s of each worker count, the ratio, memory, CPU split and the tables' check."""
    label = short_count(comparison.size)
    cores = os.cpu_count() or 1
    for workers, runs in sorted(comparison.runs.items()):
        rates = [r.events_per_s for r in runs]
        ok = all(r.events == comparison.size and r.parked == 0 for r in runs)
        result.add(
            f"replay {label}, {_plural(workers)}",
            median(rates),
            "events/s",
            f"median of {len(runs)}: {', '.join(f'{v:,.0f}' for v in rates)};"
            f" check {'ok' if ok else 'MISMATCH events or parked'}",
        )
    ones = [r.events_per_s for r in comparison.runs[1]]
    many = [r.events_per_s for r in comparison.runs[WORKERS]]
    ratios = round_ratios(ones, many)
    result.add(
        f"{WORKERS} workers / 1 at {label}",
        median(ratios) if ratios else 0.0,
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)});"
        f" {cores} cores shared with the broker and PostgreSQL",
    )
    for workers, runs in sorted(comparison.runs.items()):
        peak = max(r.tree_peak_rss_kib for r in runs)
        largest = max(r.tree_largest_hwm_kib for r in runs)
        processes = max(r.tree_processes for r in runs)
        result.add(
            f"peak RSS {label} tree, {_plural(workers)}",
            peak / KIB_PER_MIB,
            "MiB",
            f"VmRSS summed over the rebuild process and its descendants ({processes} at most),"
            f" sampled every {SAMPLE_EVERY_S:g} s, highest of {len(runs)} runs; the largest one"
            f" process's VmHWM {largest / KIB_PER_MIB:.0f} MiB",
        )
    for workers, runs in sorted(comparison.runs.items()):
        _cpu_metric(result, label, workers, runs, cores)
    _check_metric(result, comparison)


def _cpu_metric(result: Result, label: str, workers: int, runs: list[Replay], cores: int) -> None:
    split = [r for r in runs if r.cpu is not None and r.cpu.busy is not None and r.wall_s > 0]
    if not split:
        return

    def cores_of(pick: str) -> float:
        figures = []
        for r in split:
            assert r.cpu is not None
            seconds = r.cpu_s if pick == "rebuild" else r.cpu.trees_s.get(pick, 0.0)
            figures.append(seconds / r.wall_s)
        return median(figures)

    busy = median(100 * (r.cpu.busy or 0.0) for r in split if r.cpu is not None)
    rebuild, pg, broker = cores_of("rebuild"), cores_of("postgresql"), cores_of("broker")
    rest = max(0.0, busy / 100 * cores - rebuild - pg - broker)
    per_event = median(1e6 * r.cpu_s / r.events for r in split if r.events)
    pg_per_event = median(
        1e6 * r.cpu.trees_s.get("postgresql", 0.0) / r.events
        for r in split
        if r.cpu is not None and r.events
    )
    result.add(
        f"machine busy {label}, {_plural(workers)}",
        busy,
        "%",
        f"of {cores} cores over the rebuild process's run (medians of {len(split)}), in cores:"
        f" rebuild tree {rebuild:.2f}, PostgreSQL {pg:.2f}, broker {broker:.2f}, the rest"
        f" {rest:.2f}; CPU per event: rebuild {per_event:.0f} us, PostgreSQL"
        f" {pg_per_event:.0f} us",
    )


def _check_metric(result: Result, comparison: WorkersComparison) -> None:
    reference = comparison.checksums[1][0]
    bad: list[str] = []
    compared = 0
    for workers, sums in sorted(comparison.checksums.items()):
        for number, one in enumerate(sums, start=1):
            if workers == 1 and number == 1:
                continue
            compared += 1
            bad += [f"{t} ({_plural(workers)} run {number})" for t in mismatches(reference, one)]
    rows = ", ".join(f"{t} {n:,}" for t, (n, _) in sorted(reference.items()) if n)
    verdict = (
        f"ok: every table of {compared} other replays equals the first 1-worker replay's"
        if not bad
        else "MISMATCH " + "; ".join(bad)
    )
    result.add(
        f"tables {WORKERS} workers = 1",
        len(reference) if not bad else 0,
        "tables",
        f"{verdict} (rows and md5 of the sorted md5s of the rows' text); rows: {rows}",
    )
