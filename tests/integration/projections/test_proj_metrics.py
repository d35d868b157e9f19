"""service_metrics_daily and agent_metrics_daily."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.conftest import Isolated
from tests.integration.projections.stories import story
from tests.support.history import History, apply_all, rows

X = "00000000-0000-4000-8000-0000000000e1"
Y = "00000000-0000-4000-8000-0000000000e2"
DAY1, DAY2, DAY3 = date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)
SERVICE = "SELECT * FROM proj.service_metrics_daily ORDER BY day"
AGENTS = "SELECT * FROM proj.agent_metrics_daily ORDER BY day, agent_id"


def _three_days() -> History:
    """X: first-contact resolution on day 1, reopened on day 2 (loses it), rated on day 3 by
    bob's customer, then handed to erin. Y: resolved on day 2, rated while carol owned it,
    handed to dave, rated again on day 3 (the latest rating counts, credited to dave)."""
    h = History()
    run = h.run
    run("OpenCase", X, {"customer_id": "c:x", "channel": "email", "subject": "S",
        "description": "D"}, minutes=0, actor="customer:x")  # fmt: skip
    run("Acknowledge", X, {}, minutes=10)  # 600 s
    run("Assign", X, {"agent_id": "agent:bob"}, minutes=20)
    run("OpenCase", Y, {"customer_id": "c:y", "channel": "email", "subject": "S",
        "description": "D"}, minutes=30, actor="customer:y")  # fmt: skip
    run("Resolve", X, {"resolution": "R"}, minutes=60, actor="agent:bob")  # 3600 s, day 1
    run("Acknowledge", Y, {}, minutes=90)  # 3600 s
    run("Assign", Y, {"agent_id": "agent:carol"}, minutes=100)
    run("Resolve", Y, {"resolution": "R"}, minutes=900, actor="agent:carol")  # day 2, 52200 s
    run("RateSatisfaction", Y, {"score": 2}, minutes=960, actor="customer:y")
    run("Reopen", X, {"reason": "came back"}, minutes=1000)
    run("Resolve", X, {"resolution": "R2"}, minutes=1010, actor="agent:bob")
    run("RateSatisfaction", X, {"score": 5}, minutes=2400, actor="customer:x")  # day 3
    run("Assign", X, {"agent_id": "agent:erin"}, minutes=2430)  # the credit stays with bob
    run("Assign", Y, {"agent_id": "agent:dave"}, minutes=2410)
    run("RateSatisfaction", Y, {"score": 4}, minutes=2420, actor="customer:y")
    return h


def _day(day: date, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "day": day, "opened": 0, "acknowledged": 0, "resolved": 0, "first_resolved": 0,
        "first_contact_resolutions": 0, "first_contact_resolution_rate": None,
        "reopenings": 0, "escalations": 0, "closed": 0, "ratings": 0, "csat_count": 0,
        "csat_average": None, "median_seconds_to_acknowledge": None,
        "median_seconds_to_resolve": None, "root_cause_needed": 0, "fixed_twice": 0,
        "fix_twice_rate": None, "known_answers_given": 0,
    }  # fmt: skip
    assert set(values) <= set(row)
    row.update(values)
    return row


def _agent(
    day: date, agent: str, *, resolved: int, ratings: int, csat: int, average: str | None,
    needed: int = 0, twice: int = 0, known: int = 0,
) -> dict[str, object]:  # fmt: skip
    return {
        "day": day, "agent_id": agent, "cases_resolved": resolved, "ratings": ratings,
        "csat_count": csat, "csat_average": None if average is None else Decimal(average),
        "root_cause_needed": needed, "fixed_twice": twice,
        "fix_twice_rate": round(Decimal(twice) / needed, 4) if needed else None,
        "known_answers_given": known,
    }  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_daily_metrics_over_three_days(isolated: Isolated, batch_size: int) -> None:
    apply_all(isolated.dsn, _three_days().events, batch_size=batch_size)
    assert rows(isolated.dsn, SERVICE) == [
        _day(DAY1, opened=2, acknowledged=2, resolved=1, first_resolved=1,
             first_contact_resolutions=0,  # X was reopened on day 2
             first_contact_resolution_rate=Decimal("0.0000"),
             median_seconds_to_acknowledge=2100.0, median_seconds_to_resolve=3600.0),
        _day(DAY2, resolved=2, first_resolved=1, first_contact_resolutions=1,
             first_contact_resolution_rate=Decimal("1.0000"), reopenings=1,
             ratings=1,  # Y's rating of day 2 was replaced by its rating of day 3
             median_seconds_to_resolve=52200.0),
        _day(DAY3, ratings=2, csat_count=2, csat_average=Decimal("4.50")),
    ]  # fmt: skip
    assert rows(isolated.dsn, AGENTS) == [
        _agent(DAY1, "agent:bob", resolved=1, ratings=0, csat=0, average=None),
        _agent(DAY2, "agent:bob", resolved=1, ratings=0, csat=0, average=None),
        _agent(DAY2, "agent:carol", resolved=1, ratings=1, csat=0, average=None),
        # X's owner when it was rated was bob; erin came later
        _agent(DAY3, "agent:bob", resolved=0, ratings=1, csat=1, average="5.00"),
        _agent(DAY3, "agent:dave", resolved=0, ratings=1, csat=1, average="4.00"),
    ]


def test_story_metrics(isolated: Isolated) -> None:
    apply_all(isolated.dsn, story().events, batch_size=3)
    assert rows(isolated.dsn, SERVICE) == [
        _day(DAY1, opened=3, acknowledged=2,
             resolved=4,  # A three times, B once
             first_resolved=2, first_contact_resolutions=1,  # B
             first_contact_resolution_rate=Decimal("0.5000"), reopenings=3, escalations=1,
             closed=2, ratings=2, csat_count=2, csat_average=Decimal("4.50"),
             median_seconds_to_acknowledge=300.0, median_seconds_to_resolve=2400.0,
             # A (KB-1, linked at 45 before its resolution at 50) and B (KB-1, never linked)
             root_cause_needed=2, fixed_twice=1, fix_twice_rate=Decimal("0.5000"),
             known_answers_given=4),  # A twice, B, C
    ]  # fmt: skip
    assert rows(isolated.dsn, AGENTS) == [
        # B: dave gave KB-1 and resolved it; no root cause linked nor waived
        _agent(DAY1, "agent:dave", resolved=1, ratings=1, csat=1, average="5.00", needed=1,
               known=1),
        # A was rated while lead owned it; carol's later ownership does not move the credit;
        # lead gave KB-1 twice on A, linked RC1 before resolving: fixed twice
        _agent(DAY1, "agent:lead", resolved=3, ratings=1, csat=1, average="4.00", needed=1,
               twice=1, known=2),
        # C: KB-2 given by the default actor
        _agent(DAY1, "agent:maria", resolved=0, ratings=0, csat=0, average=None, known=1),
    ]  # fmt: skip
