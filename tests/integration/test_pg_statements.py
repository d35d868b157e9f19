"""pg_stat_statements on the local PostgreSQL: a projection's statements are seen and put down
to it, and only those of the observed database."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from supportes.bench.pg_statements import statement_view
from supportes.db.connect import connect
from supportes.projections.base import LoggedEvent, ProjectionContext
from supportes.projections.timeline import TimelineProjection
from supportes.settings import Settings
from tests.conftest import fresh_database


def _opened(case_id: str, offset: int) -> LoggedEvent:
    envelope = {
        "event_id": str(uuid4()),
        "type": "CaseOpened",
        "aggregate_id": case_id,
        "aggregate_type": "case",
        "version": 1,
        "occurred_at": datetime(2026, 12, 5, 8, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "actor": {"id": "customer:42", "kind": "customer"},
        "payload": {
            "customer_id": "customer:42",
            "channel": "mail",
            "subject": "Printer on fire",
            "description": "It smokes.",
        },
    }
    return LoggedEvent(envelope, 0, offset)


def test_the_timelines_copy_is_seen_and_put_down_to_it(stack: Settings) -> None:
    if not stack.pg_is_local:
        pytest.skip("pg_stat_statements is preloaded by the local stack only")
    events = [_opened(str(uuid4()), n) for n in range(25)]
    with fresh_database(stack) as dsn, fresh_database(stack) as elsewhere:
        with statement_view(stack, dsn) as view:
            for target in (dsn, elsewhere):  # the other database's statements are not counted
                conn = connect(target)
                try:
                    with conn.cursor() as cur:
                        cur.execute("SET search_path TO proj")
                        TimelineProjection().apply(cur, events, ProjectionContext())
                    conn.commit()
                finally:
                    conn.close()
        assert view.available, view.reason
        timeline = next(t for t in view.times if t.owner == "timeline")
        assert timeline.calls == 1  # one COPY, in this database only
        assert timeline.rows == len(events)
        assert timeline.exec_s > 0
