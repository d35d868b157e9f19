"""Where each projection stands against the log: stored offset, end offset, lag, parked events."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from kafka import TopicPartition

from supportes.db.connect import connect_as
from supportes.messaging.clients import Component, committed_reader
from supportes.projections.registry import all_projections
from supportes.settings import PgComponent, Settings


@dataclass(frozen=True)
class PartitionProgress:
    """One projection on one partition. ``lag = end_offset - stored_offset``."""

    projection: str
    partition: int
    stored_offset: int
    end_offset: int
    lag: int
    parked: int

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)


def end_offsets(settings: Settings) -> dict[int, int]:
    """The events topic's end per partition as a read_committed reader sees it (the LSO)."""
    reader = committed_reader(settings, Component.ADMIN)
    try:
        tps = [TopicPartition(settings.topic("events"), p) for p in range(settings.partitions)]
        return {tp.partition: int(offset) for tp, offset in reader.end_offsets(tps).items()}
    finally:
        reader.close()


def projection_status(settings: Settings) -> list[PartitionProgress]:
    """Progress of every projection on every partition, with parked counts."""
    ends = end_offsets(settings)
    names = [p.name for p in all_projections()]
    conn = connect_as(settings, PgComponent.ANALYTICS, timeout_s=10.0)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT projection, partition, next_offset FROM proj.offsets WHERE topic = %s",
                (settings.topic("events"),),
            )
            stored = {(n, p): o for n, p, o in cur.fetchall()}
            cur.execute(
                "SELECT projection, partition, count(*) FROM proj.parked_events"
                " WHERE topic = %s GROUP BY projection, partition",
                (settings.topic("events"),),
            )
            parked = {(n, p): c for n, p, c in cur.fetchall()}
    finally:
        conn.close()
    rows = []
    for name in names:
        for partition, end in sorted(ends.items()):
            offset = stored.get((name, partition), 0)
            rows.append(
                PartitionProgress(
                    name,
                    partition,
                    offset,
                    end,
                    max(0, end - offset),
                    parked.get((name, partition), 0),
                )
            )
    return rows


def wait_until_caught_up(settings: Settings, timeout_s: float, interval_s: float = 0.25) -> bool:
    """Block until every projection reached the log's end as it was when called."""
    target = end_offsets(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        behind = [
            row
            for row in projection_status(settings)
            if row.stored_offset < target.get(row.partition, 0)
        ]
        if not behind:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
