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

from supportes.aggregates.personal import PERSONAL
from supportes.bench.kafka_ceilings import BenchTimeoutError
from supportes.bench.progress import Progress
from supportes.bench.replay_events import (
    NAME,
    bound_s,
)
from supportes.bench.replay_helpers import (
    parse_log_line,
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
    ``log``; return its exit code (and its CPU seconds, user + system, in ``log.cpu_s``)."""
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
        if time.monotonic() > deadline:
            raise BenchTimeoutError(f"{NAME}: the replay did not finish in time")
        time.sleep(SAMPLE_EVERY_S)


def replay_in_child(scratch: Settings, dsn: str, events: int, *, label: str = "") -> Replay:
    """Run ``supportes projections rebuild`` on ``scratch``'s topics into ``dsn``; measure it."""
    command = [str(Path(sys.executable).parent / "supportes"), "projections", "rebuild"]
    progress = Progress(NAME, f"replay {short_count(events)}{label} (child process)", events)
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
        code = _reap(process, log, samples, began + bound_s(events))
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
        reported_rate=float(report.get("events_per_second") or 0.0),
        cpu_s=log.cpu_s,
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
