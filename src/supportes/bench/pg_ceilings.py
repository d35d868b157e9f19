"""Ceiling of bare PostgreSQL writes from Python: ``COPY`` of timeline-shaped rows (psycopg2)."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2.extensions

from supportes.bench import payloads
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database
from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.db.copy import escape
from supportes.settings import Settings

MB = 1_000_000
TIMELINE_DDL = """
CREATE TABLE case_timeline (
    case_id     uuid        NOT NULL,
    version     integer     NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    summary     text        NOT NULL,
    payload     jsonb       NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    PRIMARY KEY (case_id, version)
)
"""
COLUMNS = (
    "case_id",
    "version",
    "type",
    "occurred_at",
    "actor",
    "summary",
    "payload",
    "partition",
    '"offset"',
)
_COPY_SQL = f"COPY case_timeline ({', '.join(COLUMNS)}) FROM STDIN"


def timeline_lines(rows: int, payload_size: int, partitions: int = 6) -> Iterator[str]:
    """COPY text lines shaped like ``proj.case_timeline`` rows, ~``payload_size`` B payloads.

    Cases have 10 events each (versions 1..10), so the primary key sees realistic locality.
    """
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    case_id = ""
    offsets = [0] * partitions
    for index in range(rows):
        version = index % 10 + 1
        if version == 1:
            case_id = str(uuid.uuid4())
        partition = index % partitions
        offsets[partition] += 1
        payload = {"direction": "inbound", "channel": "email", "summary": ""}
        bare = len(payloads.dumps(payload))
        payload["summary"] = payloads.pad_text(max(0, payload_size - bare))
        occurred = (start + timedelta(seconds=index)).isoformat()
        yield (
            "\t".join(
                (
                    case_id,
                    str(version),
                    "ContactRecorded",
                    occurred,
                    "agent:maria",
                    escape(payload["summary"][:80]),
                    escape(json.dumps(payload, separators=(",", ":"))),
                    str(partition),
                    str(offsets[partition]),
                )
            )
            + "\n"
        )


def _copy_in_batches(
    conn: psycopg2.extensions.connection,
    lines: list[str],
    batch_rows: int,
    progress: Progress,
    deadline: float,
) -> float:
    """One COPY + COMMIT per ``batch_rows`` lines; return the seconds taken."""
    started = time.perf_counter()
    for first in range(0, len(lines), batch_rows):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{progress.benchmark}: batched COPY did not finish in time")
        chunk = "".join(lines[first : first + batch_rows]).encode()
        with conn.cursor() as cur:
            cur.copy_expert(_COPY_SQL, io.BytesIO(chunk))
        conn.commit()
        progress.advance(min(batch_rows, len(lines) - first))
    return time.perf_counter() - started


def pg_copy_ceiling(
    settings: Settings,
    rows: int = 200_000,
    payload_size: int = 300,
    *,
    batch_rows: int = 500,
    batched_rows: int | None = None,
    timeout_s: float = 300.0,
) -> Result:
    """Bare ``COPY ... FROM STDIN`` (psycopg2 ``copy_expert`` from an in-memory buffer).

    Into a normal (logged) table shaped like ``proj.case_timeline`` with its primary key, in a
    scratch database: first all ``rows`` in one COPY and one commit; then ``batched_rows``
    (default ``rows // 4``) more as one COPY + COMMIT per ``batch_rows`` rows, the shape of a
    projector batch. Building the COPY text in Python is timed separately.
    """
    name = "pg-copy-ceiling"
    batched = batched_rows if batched_rows is not None else max(batch_rows, rows // 4)
    result = Result(
        name,
        params={
            "rows": rows,
            "payload_size": payload_size,
            "batch_rows": batch_rows,
            "batched_rows": batched,
            "table": "logged",
        },
    )
    deadline = time.monotonic() + timeout_s
    with scratch_database(settings) as dsn:
        conn = connect(dsn, timeout_s=settings.connect_timeout_s)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
                cur.execute(TIMELINE_DDL)
            conn.commit()

            built = time.perf_counter()
            lines = list(timeline_lines(rows + batched, payload_size))
            big = "".join(lines[:rows]).encode()
            build_s = time.perf_counter() - built

            progress = Progress(name, "copy", rows)
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.copy_expert(_COPY_SQL, io.BytesIO(big))
            conn.commit()
            copy_s = time.perf_counter() - started
            progress.done = rows
            progress.finish()

            progress = Progress(name, f"copy per {batch_rows} rows + commit", batched)
            batched_s = _copy_in_batches(conn, lines[rows:], batch_rows, progress, deadline)
            progress.finish()
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM case_timeline")
                row = cur.fetchone()
                stored = int(row[0]) if row else 0
                cur.execute("SHOW synchronous_commit")
                sync = cur.fetchone()
        finally:
            conn.close()
    check = "ok" if stored == rows + batched else f"MISMATCH {stored}"
    sync_note = f"synchronous_commit={sync[0] if sync else '?'}"
    result.add(
        "rows (one COPY)",
        rate(rows, copy_s),
        "rows/s",
        f"logged table + PK, {payload_size} B jsonb; check {check}",
    )
    result.add("data (one COPY)", rate(len(big), copy_s) / MB, "MB/s", "COPY text bytes")
    result.add(
        f"rows (COPY+COMMIT per {batch_rows})",
        rate(batched, batched_s),
        "rows/s",
        f"{batched} rows; {sync_note}",
    )
    result.add(
        "commits",
        rate(-(-batched // batch_rows), batched_s),
        "txn/s",
        f"{batch_rows}-row COPY each",
    )
    result.add(
        "build COPY text", rate(rows + batched, build_s), "rows/s", "Python, not in the above"
    )
    return result
