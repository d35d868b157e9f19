"""PostgreSQL's own view of the replay: each statement put down to the projection it serves."""

from __future__ import annotations

from supportes.bench.pg_statements import (
    OTHER,
    PROJECTOR,
    OwnerTime,
    StatementView,
    by_owner,
    owner_of,
    table_owners,
)

OWNERS = table_owners()


def test_the_target_table_names_the_projection() -> None:
    assert owner_of("COPY case_timeline (case_id, version) FROM STDIN", OWNERS) == "timeline"
    assert owner_of("COPY root_cause_timeline (root_cause_id) FROM STDIN", OWNERS) == "timeline"
    assert owner_of("INSERT INTO follow_up_queue AS t (a) SELECT a FROM s", OWNERS) == "follow_ups"


def test_a_staging_table_counts_for_the_table_it_stages() -> None:
    query = (
        "WITH s AS (DELETE FROM _stage_case_view_9eaa23a7 RETURNING case_id)"
        " INSERT INTO case_view AS t (case_id) SELECT case_id FROM s"
    )
    assert owner_of(query, OWNERS) == "case_view"
    assert owner_of("COPY _stage_metrics_cases_b21d0449 (case_id) FROM STDIN", OWNERS) == "metrics"


def test_the_first_table_named_wins_and_a_longer_name_is_not_its_prefix() -> None:
    query = (
        "SELECT g.known_answer_id FROM follow_up_known_answers AS g"
        " JOIN follow_up_cases AS c ON c.case_id = g.case_id"
    )
    assert owner_of(query, OWNERS) == OWNERS["follow_up_known_answers"]
    assert owner_of("SELECT 1 FROM case_view_history", {"case_view": "case_view"}) == OTHER


def test_the_projectors_own_statements_and_the_rest() -> None:
    offsets = "UPDATE offsets AS o SET next_offset = v.next_offset FROM (VALUES ($1)) AS v"
    assert owner_of(offsets, OWNERS) == PROJECTOR
    assert owner_of("COMMIT", OWNERS) == OTHER
    assert owner_of("SET LOCAL search_path TO shadow_x", OWNERS) == OTHER


def test_times_are_summed_per_owner_in_seconds_the_largest_first() -> None:
    statements = [
        ("COPY case_timeline (case_id) FROM STDIN", 1500.0, 10, 20_000),
        ("COPY root_cause_timeline (root_cause_id) FROM STDIN", 250.0, 10, 500),
        ("UPDATE case_view SET status = $1", 2000.0, 5, 7),
        ("COMMIT", 100.0, 20, 0),
    ]
    times = by_owner(statements, OWNERS)
    assert times == [
        OwnerTime("case_view", 2.0, 5, 7),
        OwnerTime("timeline", 1.75, 20, 20_500),
        OwnerTime(OTHER, 0.1, 20, 0),
    ]
    view = StatementView(times=times)
    assert view.available
    assert abs(view.total_s - 3.85) < 1e-9
    assert view.note(top=2) == "case_view 2.0 s (52 %), timeline 1.8 s (45 %)"


def test_a_view_without_figures_says_why() -> None:
    view = StatementView(reason="a configured PostgreSQL")
    assert not view.available
    assert view.total_s == 0
