"""``audit verify``: re-read the events log and check every hash chain and the event index.

The log (``<prefix>.events``, every partition, read_committed) is read from offset 0 to the end
offsets taken when the run starts; the index is read in one REPEATABLE READ snapshot, so rows
and recorded positions agree. The checks live in :mod:`supportes.ops.audit_checks`, the
reading in :mod:`supportes.ops.audit_reading`.
With ``case_id`` only that aggregate (case or root cause) is checked: its partition
(``partition_for``) is read from offset 0 - the log is never skipped on the index's word.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from supportes.db.connect import connect_as
from supportes.errors import ConfigError, UsageError
from supportes.logs import get_logger
from supportes.messaging.clients import Component
from supportes.messaging.routing import partition_for
from supportes.ops.audit_checks import CHECKS, CheckCount, Failure, Tally
from supportes.ops.audit_reading import (
    Progress,
    audit_partitions,
    audit_worker,
    index_positions,
    log_reader,
    snapshot_ends,
)
from supportes.settings import PgComponent, Settings
from supportes.stack.kafka_admin import require_broker

log = get_logger("audit")
AUTO_WORKERS_FROM = 200_000


@dataclass(frozen=True)
class AuditReport:
    """What ``audit verify`` found. ``failures`` lists the first ones in log order."""

    case_id: str | None
    topic: str
    partitions: list[int]
    aggregates: dict[str, int]
    events: int
    index_rows: int
    unindexed: int
    checks: dict[str, CheckCount]
    failures: list[Failure]
    failures_total: int
    seconds: float
    end_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.failures_total == 0

    @property
    def first_failure(self) -> Failure | None:
        """The failure at the lowest log position (partition, offset), if any."""
        return min(self.failures, key=lambda f: f.position) if self.failures else None

    @property
    def events_per_second(self) -> float:
        """Verification speed."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the shape of ``audit verify --json``)."""
        first = self.first_failure
        return {
            "ok": self.ok,
            "case_id": self.case_id,
            "topic": self.topic,
            "partitions": self.partitions,
            "end_offsets": {str(p): o for p, o in sorted(self.end_offsets.items())},
            "aggregates": self.aggregates,
            "events": self.events,
            "index_rows": self.index_rows,
            "unindexed": self.unindexed,
            "checks": {
                name: {"checked": c.checked, "failed": c.failed} for name, c in self.checks.items()
            },
            "failures_total": self.failures_total,
            "first_failure": first.as_dict() if first else None,
            "failures": [f.as_dict() for f in self.failures],
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
        }


def parse_aggregate_id(text: str) -> str:
    """The canonical form of a case or root cause id; UsageError when it is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise UsageError(f"not a case or root cause id (a UUID): {text!r}") from None


def verify_audit(
    settings: Settings,
    case_id: str | None = None,
    *,
    progress_every: int = 20_000,
    workers: int | None = None,
) -> AuditReport:
    """Verify the whole log (or one aggregate's) against its hash chains and the index.

    With ``workers`` > 1 the partitions are split among that many processes (partition ``p``
    in worker ``p % workers``), all reading the index in this run's one snapshot; the report
    is the same as one process gives. ``None`` chooses (:func:`auto_workers`).

    Raises ConfigError when Kafka or PostgreSQL cannot be used, UsageError for a ``case_id``
    that is malformed or has no events on the log nor in the index, or for ``workers`` out of
    1..partitions.
    """
    only = parse_aggregate_id(case_id) if case_id is not None else None
    if workers is not None and not 1 <= workers <= settings.partitions:
        raise UsageError(f"--workers must be 1..{settings.partitions} (SUPPORTES_PARTITIONS)")
    began = time.monotonic()
    require_broker(settings, Component.AUDITOR)
    topic = settings.topic("events")
    reader = log_reader(settings)
    conn = connect_as(settings, PgComponent.API, timeout_s=10.0)
    try:
        ends = snapshot_ends(reader, settings, topic)
        wanted = [partition_for(only, settings.partitions)] if only else sorted(ends)
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        positions = index_positions(conn, topic)
        if workers is None:
            workers = 1 if only else auto_workers(sum(ends.values()), settings.partitions)
        if workers > 1 and only is None:
            tallies = _in_workers(
                settings,
                reader,
                conn,
                ends,
                positions,
                workers=workers,
                progress_every=progress_every,
                began=began,
            )
        else:
            progress = Progress(sum(ends[p] for p in wanted), progress_every, began)
            tallies = audit_partitions(
                settings,
                reader,
                conn,
                {p: ends[p] for p in wanted},
                positions,
                only=only,
                progress=progress,
            )
        conn.rollback()
    except KafkaError as exc:
        raise ConfigError(
            f"reading {topic} from Kafka at {settings.bootstrap_servers} failed: {exc}"
        ) from None
    finally:
        reader.close()
        conn.close()
    tally = Tally()
    for partition in sorted(tallies):
        tally.absorb(tallies[partition])
    if only is not None and tally.events == 0 and tally.index_rows == 0:
        raise UsageError(f"unknown case {only}: no events on the log or in the index")
    report = _report(
        tally,
        only=only,
        topic=topic,
        partitions=wanted,
        ends=ends,
        seconds=time.monotonic() - began,
    )
    log.info(
        "audit verify finished",
        ok=report.ok,
        events=report.events,
        failures=report.failures_total,
        workers=workers,
        seconds=round(report.seconds, 2),
        events_per_second=round(report.events_per_second),
    )
    return report


def auto_workers(offsets: int, partitions: int) -> int:
    """One process for a log under :data:`AUTO_WORKERS_FROM` offsets (starting another costs
    ~1 s), else one per core, at most one per partition."""
    if offsets < AUTO_WORKERS_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, partitions))


def _in_workers(
    settings: Settings,
    reader: KafkaConsumer,
    conn: psycopg2.extensions.connection,
    ends: dict[int, int],
    positions: dict[int, int],
    *,
    workers: int,
    progress_every: int,
    began: float,
) -> dict[int, Tally]:
    """Every partition checked by ``workers``: this process takes the first share while
    ``workers - 1`` others start and take theirs, all in ``conn``'s exported snapshot (its
    transaction stays open until they are done)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_export_snapshot()")
        row = cur.fetchone()
    assert row is not None
    snapshot = str(row[0])
    shares = [{p: ends[p] for p in sorted(ends) if p % workers == w} for w in range(workers)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
        futures = [
            pool.submit(
                audit_worker,
                settings,
                snapshot,
                share,
                {p: positions[p] for p in share if p in positions},
                progress_every,
            )
            for share in shares[1:]
        ]
        progress = Progress(sum(shares[0].values()), progress_every, began)
        try:
            tallies = audit_partitions(
                settings, reader, conn, shares[0], positions, only=None, progress=progress
            )
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        for future in futures:
            tallies.update(future.result())
    return tallies


def _report(
    tally: Tally,
    *,
    only: str | None,
    topic: str,
    partitions: list[int],
    ends: dict[int, int],
    seconds: float,
) -> AuditReport:
    types = list(tally.aggregates.values())
    return AuditReport(
        case_id=only,
        topic=topic,
        partitions=partitions,
        aggregates={
            "total": len(types),
            "cases": types.count("Case"),
            "root_causes": types.count("RootCause"),
        },
        events=tally.events,
        index_rows=tally.index_rows,
        unindexed=tally.unindexed,
        checks={name: tally.checks[name] for name in CHECKS},
        failures=tally.failures,
        failures_total=tally.failures_total,
        seconds=seconds,
        end_offsets={p: ends[p] for p in partitions},
    )
