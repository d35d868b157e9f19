"""The console benchmark's pure parts: the Server-Timing header, the cookies of the sign-in, the
statistics, the long case's commands and the verdict (nothing runs)."""

from __future__ import annotations

from itertools import islice

import pytest

from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.auth.policy import allows_command
from supportes.auth.principal import Principal, Role
from supportes.bench.console_pages import (
    AGENTS,
    CASE_EVENTS,
    Loads,
    Summary,
    case_steps,
    closing_step,
    cookie_value,
    server_timing_ms,
    verdict,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("app;dur=12.34", 12.34),  # what ConsoleHeaders sends
        ("app;dur=0.5", 0.5),
        ("db;dur=3, app;dur=5", 5.0),
        ('app;desc="the app";dur=7', 7.0),
        ("app ; DUR = 8.25 ", 8.25),
        ('app;dur="9"', 9.0),
    ],
)
def test_server_timing_gives_the_app_duration(header: str, expected: float) -> None:
    assert server_timing_ms(header) == pytest.approx(expected)


@pytest.mark.parametrize(
    "header", [None, "", "app", "app;desc=x", "db;dur=3", "app;dur=abc", "application;dur=1"]
)
def test_server_timing_without_an_app_duration_is_none(header: str | None) -> None:
    assert server_timing_ms(header) is None


def test_server_timing_of_another_metric() -> None:
    assert server_timing_ms("app;dur=1, db;dur=2.5", "db") == 2.5


def test_cookie_value_finds_the_host_prefixed_and_the_plain_name() -> None:
    secure = ["__Host-supportes_console=abc123; HttpOnly; Path=/; SameSite=strict; Secure"]
    assert cookie_value(secure, "supportes_console") == ("__Host-supportes_console", "abc123")
    plain = ["other=1; Path=/", 'supportes_console="xyz"; Path=/']
    assert cookie_value(plain, "supportes_console") == ("supportes_console", "xyz")


def test_cookie_value_ignores_a_cleared_cookie_and_other_names() -> None:
    cleared = ['__Host-supportes_sign_in=""; Max-Age=0; Path=/']
    assert cookie_value(cleared, "supportes_sign_in") is None
    assert cookie_value(["supportes_console_x=1"], "supportes_console") is None
    assert cookie_value([], "supportes_console") is None


def test_summary_is_median_p95_and_max() -> None:
    summary = Summary.of([float(v) for v in range(100, 0, -1)])  # 1..100, unsorted
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summary.max == 100.0
    assert summary.count == 100
    with pytest.raises(ValueError, match="empty"):
        Summary.of([])


def test_the_long_case_opens_then_acknowledges() -> None:
    first, second = islice(case_steps(), 2)
    assert (first.type, second.type) == ("OpenCase", "Acknowledge")
    assert first.payload["customer_id"].startswith("customer:")


def test_every_step_is_a_valid_command_an_agent_may_send_as_itself() -> None:
    for step in [*islice(case_steps(), CASE_EVENTS), closing_step(AGENTS[0])]:
        assert step.agent in AGENTS
        COMMAND_PAYLOADS[step.type].model_validate(step.payload)  # raises when invalid
        principal = Principal(step.agent, frozenset({Role.AGENT}))
        assert allows_command(principal, step.type), step.type


def test_the_long_case_hands_responsibility_over_and_goes_round() -> None:
    steps = list(islice(case_steps(), CASE_EVENTS))
    escalations = [s for s in steps if s.type == "Escalate"]
    assert len(escalations) >= 15
    for step in escalations:
        assert step.payload["to_agent_id"] != step.agent  # a hand-off to the next agent
    taken = {s.agent for s in steps if s.type == "TakeResponsibility"}
    assert taken == set(AGENTS)
    # Resolve and Reopen alternate, so the case is always open or resolved, never closed.
    outcomes = [s.type for s in steps if s.type in ("Resolve", "Reopen")]
    assert outcomes == ["Resolve", "Reopen"] * (len(outcomes) // 2) + ["Resolve"] * (
        len(outcomes) % 2
    )
    assert "Close" not in {s.type for s in steps}


def test_case_steps_needs_an_agent() -> None:
    with pytest.raises(ValueError, match="agent"):
        next(case_steps(()))


def test_verdict() -> None:
    assert verdict([400.0, 999.9]) == "met: all 2 loads under 1,000 ms"
    assert verdict([400.0, 1000.0, 1200.0]) == "NOT met: 2 of 3 loads at or over 1,000 ms"
    assert verdict([]) == "not measured"
    assert verdict([600.0], target_ms=500) == "NOT met: 1 of 1 loads at or over 500 ms"


def test_loads_keep_each_navigation() -> None:
    loads = Loads()
    figures = {
        "response_end": 90.5,
        "dom_content_loaded": 400.0,
        "load": 450.0,
        "charts": 430.0,
        "server": None,
        "transferred": 95_000,
        "chart_count": 1,
    }
    loads.add(figures)
    loads.add({**figures, "load": 500.0, "server": 16.0})
    assert loads.load == [450.0, 500.0]
    assert loads.server == [16.0]
    assert loads.chart_count == 1
