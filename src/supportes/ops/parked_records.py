"""What the read and write paths set aside: events a projection parked, and log records the
event index keeps as raw bytes. Both are listed with their place in the log and their reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from supportes.db.connect import connect_as
from supportes.settings import PgComponent, Settings


@dataclass(frozen=True)
class ParkedRecord:
    """One parked record: where (``store``: ``event_index`` or ``proj.<projection>``), which
    record of the log, and why."""

    store: str
    topic: str
    partition: int
    offset: int
    aggregate_id: str | None
    version: int | None
    kind: str
    reason: str
    parked_at: str

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)


def _one_line(reason: str) -> str:
    """PostgreSQL errors carry CONTEXT/DETAIL lines: one line, parts joined by `` / ``."""
    return " / ".join(part.strip() for part in reason.splitlines() if part.strip())


def parked_records(settings: Settings, *, limit: int = 1000) -> list[ParkedRecord]:
    """Parked records of this deployment's topics, oldest first (at most ``limit`` of each
    store)."""
    topics = [settings.topic("events"), settings.topic("results")]
    conn = connect_as(settings, PgComponent.API, timeout_s=10.0)
    try:
        with conn.cursor() as cur:
            cur.execute(
                'SELECT topic, partition, "offset", aggregate_id::text, version,'
                " coalesce(command_id::text, kind), reason, parked_at"
                " FROM event_index.parked_records WHERE topic = ANY(%s)"
                ' ORDER BY parked_at, topic, partition, "offset" LIMIT %s',
                (topics, limit),
            )
            index_rows = cur.fetchall()
            cur.execute(
                'SELECT projection, topic, partition, "offset", aggregate_id::text, version,'
                " type, error, parked_at FROM proj.parked_events WHERE topic = %s"
                ' ORDER BY parked_at, projection, partition, "offset" LIMIT %s',
                (topics[0], limit),
            )
            projection_rows = cur.fetchall()
        conn.commit()
    finally:
        conn.close()
    found = [
        ParkedRecord(
            "event_index", topic, partition, offset, aggregate, version, kind, _one_line(reason),
            parked_at.isoformat(),
        )
        for topic, partition, offset, aggregate, version, kind, reason, parked_at in index_rows
    ]  # fmt: skip
    found += [
        ParkedRecord(
            f"proj.{name}", topic, partition, offset, aggregate, version, kind, _one_line(reason),
            parked_at.isoformat(),
        )
        for name, topic, partition, offset, aggregate, version, kind, reason, parked_at
        in projection_rows
    ]  # fmt: skip
    return found


def parked_counts(settings: Settings) -> dict[str, int]:
    """How many records each store parked (``event_index``, ``projections``)."""
    conn = connect_as(settings, PgComponent.API)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM event_index.parked_records WHERE topic = ANY(%s)),"
                " (SELECT count(*) FROM proj.parked_events WHERE topic = %s)",
                ([settings.topic("events"), settings.topic("results")], settings.topic("events")),
            )
            row = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    index_count, projection_count = row if row else (0, 0)
    return {"event_index": int(index_count), "projections": int(projection_count)}
