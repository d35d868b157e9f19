"""PostgreSQL's side of the replay benchmark against the real server: pg_stat_statements puts a
projection's statements down to it (only those of the observed database), and the output
ceiling copies a replay's tables bare."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from supportes.bench.output_ceiling import output_copy_ceiling, projection_tables
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


def project_timeline(dsn: str, events: list[LoggedEvent]) -> None:
    """Apply ``events`` to the timeline projection of ``dsn``'s live schema, committed."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET search_path TO proj")
            TimelineProjection().apply(cur, events, ProjectionContext())
        conn.commit()
    finally:
        conn.close()


def test_the_timelines_copy_is_seen_and_put_down_to_it(stack: Settings) -> None:
    if not stack.pg_is_local:
        pytest.skip("pg_stat_statements is preloaded by the local stack only")
    events = [_opened(str(uuid4()), n) for n in range(25)]
    with fresh_database(stack) as dsn, fresh_database(stack) as elsewhere:
        with statement_view(stack, dsn) as view:
            for target in (dsn, elsewhere):  # the other database's statements are not counted
                project_timeline(target, events)
        assert view.available, view.reason
        timeline = next(t for t in view.times if t.owner == "timeline")
        assert timeline.calls == 1  # one COPY, in this database only
        assert timeline.rows == len(events)
        assert timeline.exec_s > 0


def test_the_output_ceiling_copies_every_row_and_leaves_nothing_behind(stack: Settings) -> None:
    events = [_opened(str(uuid4()), n) for n in range(40)]
    with fresh_database(stack) as dsn:
        project_timeline(dsn, events)
        output = output_copy_ceiling(dsn, projection_tables())
        assert output.rows == len(events)  # the timeline's rows; every other table is empty
        assert set(output.by_table) == set(projection_tables())
        assert output.seconds >= output.by_table["case_timeline"] > 0
        assert output.events_per_s(len(events)) > 0
        conn = connect(dsn)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench_output%'")
                assert cur.fetchone() == (0,)
                cur.execute("SELECT count(*) FROM proj.case_timeline")
                assert cur.fetchone() == (len(events),)  # the source is untouched
        finally:
            conn.close()
