"""Applying parked events again once the bug that parked them is fixed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from supportes.db.connect import connect_as
from supportes.eventstore.index import decode_raw
from supportes.logs import get_logger
from supportes.privacy.wiring import event_opener
from supportes.projections.base import LoggedEvent, ProjectionContext
from supportes.projections.registry import all_projections
from supportes.settings import PgComponent, Settings

log = get_logger("parked")


@dataclass(frozen=True)
class RetryOutcome:
    """Counts of one retry run."""

    retried: int
    applied: int
    still_parked: int


def retry_parked(settings: Settings, names: Sequence[str]) -> RetryOutcome:
    """Apply each parked aggregate's events in order; those that apply leave the parking lot.

    Runs in one transaction that first locks the projections' offset rows, so it never
    interleaves with a projector batch for the same projections.
    """
    projections = {p.name: p for p in all_projections() if p.name in names}
    context = ProjectionContext.from_settings(settings)
    topic = settings.topic("events")
    retried = applied = 0
    conn = connect_as(settings, PgComponent.PROJECTOR, timeout_s=10.0)
    opener = event_opener(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL search_path TO proj")
            cur.execute(
                "SELECT 1 FROM offsets WHERE projection = ANY(%s) AND topic = %s"
                " ORDER BY projection, partition FOR UPDATE",
                (list(projections), topic),
            )
            cur.execute(
                'SELECT projection, aggregate_id, partition, "offset", envelope, raw'
                " FROM parked_events WHERE projection = ANY(%s) AND topic = %s"
                " ORDER BY projection, aggregate_id, version",
                (list(projections), topic),
            )
            groups: dict[tuple[str, UUID], list[LoggedEvent]] = defaultdict(list)
            for name, aggregate_id, partition, offset, stored, raw in cur.fetchall():
                # jsonb could not hold it: its bytes were kept instead
                envelope = stored if stored is not None else decode_raw(raw)
                groups[(name, UUID(str(aggregate_id)))].append(
                    LoggedEvent(envelope, partition, offset)
                )
            opener.open([event for events in groups.values() for event in events])
            for (name, aggregate_id), events in groups.items():
                retried += len(events)
                cur.execute("SAVEPOINT retry")
                try:
                    projections[name].apply(cur, events, context)
                except Exception as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT retry")
                    log.warning(
                        "still failing", projection=name, case_id=str(aggregate_id), error=str(exc)
                    )
                    continue
                cur.execute(
                    "DELETE FROM parked_events WHERE projection = %s AND aggregate_id = %s",
                    (name, str(aggregate_id)),
                )
                applied += len(events)
        conn.commit()
    finally:
        conn.close()
        opener.close()
    return RetryOutcome(retried, applied, retried - applied)
