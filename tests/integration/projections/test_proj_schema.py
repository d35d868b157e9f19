"""Migration 0003 and the registry agree; public tables are documented; shadows work."""

from __future__ import annotations

from psycopg2 import sql

from supportes.db.connect import connect
from supportes.projections import case_view, follow_ups, metrics, repeat_issues, responsibility
from supportes.projections.registry import all_projections
from tests.conftest import Isolated
from tests.integration.projections.stories import extra_cases, story
from tests.support.history import apply_all, dump_tables, projection_tables, rows

PUBLIC = {
    "case_view", "case_timeline", "root_cause_timeline", "responsibility", "follow_up_queue",
    "repeat_issues_by_root_cause", "repeat_issues_by_topic", "repeat_issues_topic_daily",
    "repeat_contacts_by_customer", "known_answers", "service_metrics_daily",
    "agent_metrics_daily",
}  # fmt: skip
DESIGN_COLUMNS = {
    "case_view": {
        "reference", "status", "owner_id", "responsible_id", "opened_at", "acknowledged_at",
        "first_resolved_at", "resolved_at", "closed_at", "reopen_count", "inbound_contacts",
        "distinct_owners", "root_cause_id", "csat_score", "last_customer_update_at", "version",
    },
    "case_timeline": {"case_id", "version", "type", "occurred_at", "summary", "payload",
                      "partition", "offset"},
    "repeat_issues_by_root_cause": {"cases_total", "cases_open", "cases_after_verification"},
    "repeat_issues_by_topic": {"known_answers_given", "cases_without_root_cause"},
    "follow_up_queue": {"kind", "owner_id", "due_at"},
    "responsibility": {"from_at", "to_at"},
}  # fmt: skip


def _columns(dsn: str, table: str) -> list[str]:
    found = rows(
        dsn,
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'proj' AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [str(r["column_name"]) for r in found]


def test_registry_tables_exist_once_and_match_the_code(isolated: Isolated) -> None:
    tables = projection_tables()
    assert len(tables) == len(set(tables))
    assert [p.name for p in all_projections()] == [
        "case_view", "timeline", "responsibility", "follow_ups", "repeat_issues", "metrics",
    ]  # fmt: skip
    in_db = {
        str(r["table_name"])
        for r in rows(
            isolated.dsn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'proj'",
        )
    }
    assert set(tables) | {"offsets", "parked_events"} == in_db
    assert set(tables) > PUBLIC
    for table, names in DESIGN_COLUMNS.items():
        assert names <= set(_columns(isolated.dsn, table)), table
    written = {
        "case_view": case_view.COLUMNS, "responsibility": responsibility.COLUMNS,
        "responsibility_cases": responsibility.STATE_COLUMNS,
        "follow_up_queue": follow_ups.COLUMNS, "follow_up_cases": follow_ups.STATE_COLUMNS,
        "repeat_issues_by_root_cause": repeat_issues.ROOT_CAUSE_COLUMNS,
        "repeat_issues_cases": repeat_issues.CASE_COLUMNS,
        "metrics_cases": metrics.CASE_COLUMNS,
    }  # fmt: skip
    for table, columns in written.items():
        assert _columns(isolated.dsn, table) == list(columns), table


def test_every_table_and_public_column_is_documented(isolated: Isolated) -> None:
    undocumented_tables = rows(
        isolated.dsn,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'proj' AND c.relkind = 'r' AND obj_description(c.oid) IS NULL",
    )
    assert undocumented_tables == []
    undocumented_columns = rows(
        isolated.dsn,
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'proj'"
        " AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped"
        " AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1, 2",
        (sorted(PUBLIC),),
    )
    assert undocumented_columns == []


def test_projections_write_only_to_the_search_path_schema(isolated: Isolated) -> None:
    """A rebuild applies into a shadow schema made of LIKE copies: nothing may leak into proj."""
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA shadow")
            for table in projection_tables():
                cur.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                        sql.Identifier("shadow", table), sql.Identifier("proj", table)
                    )
                )
        conn.commit()
    finally:
        conn.close()
    events = extra_cases(story()).events
    apply_all(isolated.dsn, events, batch_size=11, schema="shadow")
    assert all(not found for found in dump_tables(isolated.dsn).values())
    shadow = dump_tables(isolated.dsn, schema="shadow")
    apply_all(isolated.dsn, events, batch_size=11)
    assert dump_tables(isolated.dsn) == shadow
