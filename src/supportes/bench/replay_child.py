"""The replay of the projection benchmark in a child process: ``supportes projections rebuild``
against a scratch database, its progress read from its log lines, its memory sampled from
``/proc`` (:mod:`~supportes.bench.projection_bench` step 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from psycopg2 import sql

from supportes.aggregates.personal import PERSONAL
from supportes.bench.kafka_ceilings import BenchTimeoutError
from supportes.bench.process_tree import (
    CpuSplit,
    cpu_reading,
    cpu_split,
    stack_pids,
    tree_memory,
    tree_pids,
)
from supportes.bench.progress import Progress
from supportes.bench.replay_events import (
    NAME,
    bound_s,
)
from supportes.bench.replay_helpers import (
    log_records,
    parse_proc_status,
    short_count,
)
from supportes.bench.scratch import child_env
from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.privacy.sealing import (
    UNREADABLE,
)
from supportes.projections.registry import all_projections
from supportes.settings import Settings

SAMPLE_EVERY_S = 0.2
MASKS = (PERSONAL.mask, UNREADABLE)
"""What a personal field reads as when it could not be opened."""


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
    reported_rate: float = 0.0
    """The child's own ``events_per_second`` (``seconds`` is rounded to 0.1 s in its log)."""
    cpu_s: float = 0.0
    """CPU seconds (user + system) of the whole child, its start-up included."""
    cases: int = 0
    masked: int = 0
    """Cases whose personal texts in ``proj.case_view`` read as a mask (not opened)."""
    texts_digest: str = ""
    """md5 of ``proj.case_view``'s personal texts, by case: equal for equal plaintext."""
    workers: int = 1
    """``--workers`` of the rebuild."""
    tree_peak_rss_kib: int = 0
    """The highest VmRSS summed over the child and its descendants (its workers), sampled."""
    tree_largest_hwm_kib: int = 0
    """The highest VmHWM of any one process of the tree."""
    tree_processes: int = 1
    """The most processes seen in the tree at once."""
    cpu: CpuSplit | None = None
    """The machine's busy share and the stack's servers' CPU over the child's run; the
    child's own tree is ``cpu_s`` (its workers are reaped into it)."""

    @property
    def events_per_s(self) -> float:
        """Replay speed by the child's own clock."""
        return self.reported_rate or rate(self.events, self.seconds)


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
    cpu_s: float = 0.0
    tree_peak_kib: int = 0
    tree_largest_hwm_kib: int = 0
    tree_processes: int = 1
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def run(self) -> None:
        for record in log_records(self.stream, self.tail):
            message = record.get("event")
            if message == "batch projected":  # from the rebuild process or a worker
                events = int(record.get("events", 0))
                self.batches += 1
                self.done += events
                self.batch_ms.append(float(record.get("duration_ms", 0.0)))
                self.progress.advance(events)
            elif message == "rebuild swapped in":
                self.report = record


def child_process_env(scratch: Settings, dsn: str) -> dict[str, str]:
    """The environment of a child ``supportes`` command on ``scratch``'s topics and ``dsn``."""
    return {
        **os.environ,
        **child_env(scratch),
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_KEK_FILE": str(scratch.kek_path),
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
    ``log``, and the VmRSS summed over its tree (it and its workers); return its exit code
    (and its CPU seconds, user + system, its reaped workers' included, in ``log.cpu_s``)."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code  # reaped here: Popen must not wait for it again
            log.cpu_s = usage.ru_utime + usage.ru_stime
            return code
        memory = _memory_kib(process.pid)
        if memory.get("VmRSS"):
            samples.append((log.done, memory["VmRSS"]))
        if memory.get("VmHWM", 0) > log.peak_kib:
            log.peak_kib, log.peak_at = memory["VmHWM"], log.done
        tree = tree_memory(tree_pids(process.pid))
        log.tree_peak_kib = max(log.tree_peak_kib, tree.rss_kib)
        log.tree_largest_hwm_kib = max(log.tree_largest_hwm_kib, tree.largest_hwm_kib)
        log.tree_processes = max(log.tree_processes, tree.processes)
        if time.monotonic() > deadline:
            raise BenchTimeoutError(f"{NAME}: the replay did not finish in time")
        time.sleep(SAMPLE_EVERY_S)


def replay_in_child(
    scratch: Settings,
    dsn: str,
    events: int,
    *,
    label: str = "",
    workers: int = 1,
    bench: str = NAME,
) -> Replay:
    """Run ``supportes projections rebuild [--workers N]`` on ``scratch``'s topics into
    ``dsn``; measure it (and the machine's and the stack servers' CPU over its run)."""
    command = [str(Path(sys.executable).parent / "supportes"), "projections", "rebuild"]
    if workers > 1:
        command += ["--workers", str(workers)]
    what = f"replay {short_count(events)}{label}" + (f", {workers} workers" if workers > 1 else "")
    progress = Progress(bench, f"{what} (child process)", events)
    samples: list[tuple[int, int]] = []
    servers = stack_pids(scratch)
    before = cpu_reading(servers)
    began = time.monotonic()
    process = subprocess.Popen(
        command,
        env=child_process_env(scratch, dsn),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    log = _ChildLog(process.stdout, progress)
    reader = threading.Thread(target=log.run, name="replay-log", daemon=True)
    reader.start()
    try:
        code = _reap(process, log, samples, began + bound_s(events))
    except BaseException:
        if process.returncode is None:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -9
        raise
    finally:
        wall = time.monotonic() - began
        after = cpu_reading(servers)
        reader.join(10)
        process.stdout.close()
    progress.finish()
    report = log.report
    if code != 0 or report is None:
        tail = " | ".join(list(log.tail)[-3:])
        raise RuntimeError(f"{bench}: `supportes projections rebuild` exited {code}: {tail}")
    replay = Replay(
        events=int(report["events"]),
        seconds=float(report["seconds"]),
        wall_s=wall,
        peak_rss_kib=log.peak_kib,
        samples=samples,
        batches=log.batches,
        batch_ms=log.batch_ms,
        peak_at=log.peak_at,
        reported_rate=float(report.get("events_per_second") or 0.0),
        cpu_s=log.cpu_s,
        workers=workers,
        tree_peak_rss_kib=log.tree_peak_kib,
        tree_largest_hwm_kib=log.tree_largest_hwm_kib,
        tree_processes=log.tree_processes,
        cpu=cpu_split(before, after, wall),
    )
    _count_rows(dsn, replay)
    return replay


_CASE_TEXTS = """
SELECT count(*),
       count(*) FILTER (WHERE subject = ANY(%(masks)s) OR description = ANY(%(masks)s)
                           OR resolution = ANY(%(masks)s)),
       coalesce(md5(string_agg(concat_ws(chr(31), case_id::text, subject, description,
                                         resolution), chr(30) ORDER BY case_id)), '')
FROM proj.case_view
"""


def _count_rows(dsn: str, replay: Replay) -> None:
    """Rows the replay left in ``proj``: timeline rows (one per event), all rows, parked; and
    its cases' personal texts (masked ones, a digest)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            counts: dict[str, int] = {}
            for table in [t for p in all_projections() for t in p.tables] + ["parked_events"]:
                cur.execute(f'SELECT count(*) FROM proj."{table}"')
                row = cur.fetchone()
                counts[table] = int(row[0]) if row else 0
            cur.execute(_CASE_TEXTS, {"masks": list(MASKS)})
            texts = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    replay.parked = counts.pop("parked_events")
    if texts is not None:
        replay.cases, replay.masked, replay.texts_digest = int(texts[0]), int(texts[1]), texts[2]
    replay.timeline_rows = counts["case_timeline"] + counts["root_cause_timeline"]
    replay.projection_rows = sum(counts.values())


_TABLE_DIGEST = """
SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '')
FROM (SELECT md5(t::text) AS h FROM {} AS t) AS rows
"""


def table_checksums(dsn: str) -> dict[str, tuple[int, str]]:
    """Every projection table's rows and a checksum of them (in UTC): the md5 of the sorted md5s
    of its rows' text, so two databases' tables compare equal only with the same rows (the md5
    of the rows' text itself would be one string of the whole table: ~1 GB at 1M events)."""
    conn = connect(dsn)
    try:
        sums: dict[str, tuple[int, str]] = {}
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            for table in [t for p in all_projections() for t in p.tables]:
                cur.execute(sql.SQL(_TABLE_DIGEST).format(sql.Identifier("proj", table)))
                row = cur.fetchone()
                sums[table] = (int(row[0]), str(row[1])) if row else (0, "")
        conn.commit()
        return sums
    finally:
        conn.close()
