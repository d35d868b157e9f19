"""The issued_at rule: no command dated more than the configured skew ahead of the writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supportes.aggregates import ErrorCode, Rejection
from supportes.aggregates.clock import DEFAULT_MAX_CLOCK_SKEW, check_issued_at, describe_skew
from supportes.errors import ConfigError
from supportes.settings import Settings, load_settings

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


@pytest.mark.parametrize(
    "issued_at",
    [
        NOW,
        NOW + SKEW,  # exactly at the limit: accepted
        NOW + timedelta(minutes=1),
        datetime(2000, 1, 1, tzinfo=UTC),  # imports of history keep their times
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_the_past_and_the_allowed_skew_are_accepted(issued_at: datetime) -> None:
    check_issued_at(issued_at, now=NOW, max_skew=SKEW)


@pytest.mark.parametrize(
    "issued_at",
    [
        NOW + SKEW + timedelta(microseconds=1),
        NOW + timedelta(hours=1),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_later_is_invalid_naming_issued_at_and_the_limit(issued_at: datetime) -> None:
    with pytest.raises(Rejection) as caught:
        check_issued_at(issued_at, now=NOW, max_skew=SKEW)
    rejection = caught.value
    assert (rejection.code, rejection.field) == (ErrorCode.INVALID, "issued_at")
    assert "5 minutes" in rejection.message
    assert "SUPPORTES_MAX_CLOCK_SKEW" in rejection.message
    assert "2026-12-02T12:00:00Z" in rejection.message  # the writer's clock it was held against


def test_zero_skew_allows_nothing_ahead() -> None:
    check_issued_at(NOW, now=NOW, max_skew=timedelta(0))
    with pytest.raises(Rejection):
        check_issued_at(NOW + timedelta(microseconds=1), now=NOW, max_skew=timedelta(0))


def test_other_timezones_are_compared_as_instants() -> None:
    plus_two = NOW.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+02:00").tzinfo)
    check_issued_at(plus_two + SKEW, now=NOW, max_skew=SKEW)


@pytest.mark.parametrize(
    ("skew", "text"),
    [
        (timedelta(minutes=5), "5 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(days=1), "1 day"),
        (timedelta(seconds=90), "90 seconds"),
        (timedelta(seconds=1.5), "1.5 seconds"),
        (timedelta(0), "0 seconds"),
    ],
)
def test_the_limit_in_words(skew: timedelta, text: str) -> None:
    assert describe_skew(skew) == text


def test_the_setting_defaults_to_five_minutes() -> None:
    assert Settings().max_clock_skew == DEFAULT_MAX_CLOCK_SKEW == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("300", timedelta(minutes=5)), ("PT2M", timedelta(minutes=2)), ("0", timedelta(0))],
)
def test_the_setting_reads_seconds_or_iso_8601(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("SUPPORTES_MAX_CLOCK_SKEW", value)
    assert load_settings().max_clock_skew == expected


@pytest.mark.parametrize("value", ["-1", "P2D", "soon"])
def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SUPPORTES_MAX_CLOCK_SKEW", value)
    with pytest.raises(ConfigError, match="SUPPORTES_MAX_CLOCK_SKEW"):
        load_settings()
