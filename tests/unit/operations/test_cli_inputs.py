"""Parsing what operators type: times, days, command lines. Bad input names the option/line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportes.cli.arguments import parse_day, parse_time, positive_int
from supportes.errors import UsageError
from supportes.ops.command_lines import read_command_lines, read_numbered_command_lines
from tests.support.commands import open_case

CASE = "00000000-0000-4000-8000-0000000000a1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:35:00Z", datetime(2026, 11, 22, 10, 35, tzinfo=UTC)),
        ("2026-11-22T10:35:00z", datetime(2026, 11, 22, 10, 35, tzinfo=UTC)),
        ("2026-11-22T12:35:00+02:00", datetime(2026, 11, 22, 10, 35, tzinfo=UTC)),
        ("2026-11-22T10:35", datetime(2026, 11, 22, 10, 35, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
    ],
)
def test_times_are_utc_instants(text: str, expected: datetime) -> None:
    parsed = parse_time(text, "--at")
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@given(st.datetimes(timezones=st.just(timezone(timedelta(hours=-7)))))
def test_any_iso_time_round_trips(moment: datetime) -> None:
    assert parse_time(moment.isoformat(), "--at") == moment


def test_now_and_none() -> None:
    assert parse_time(None, "--at") is None
    now = parse_time("now", "--at")
    assert now is not None
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize("text", ["yesterday", "22/11/2026", "2026-13-01", ""])
def test_malformed_times_name_the_option(text: str) -> None:
    with pytest.raises(UsageError, match=f"--as-of: malformed time {text!r}"):
        parse_time(text, "--as-of")


def test_days_and_limits() -> None:
    assert parse_day("2026-11-22", "--from") == date(2026, 11, 22)
    assert parse_day(None, "--from") is None
    with pytest.raises(UsageError, match="--to: malformed day '2026-11'"):
        parse_day("2026-11", "--to")
    assert positive_int("3", "--limit") == 3
    with pytest.raises(UsageError, match="--limit: must be at least 1"):
        positive_int("0", "--limit")
    with pytest.raises(UsageError, match="--limit: 'ten' is not a whole number"):
        positive_int("ten", "--limit")


def test_command_lines_skip_blanks_and_keep_order() -> None:
    first, second = open_case(CASE), open_case(CASE, 5)
    lines = [json.dumps(first), "", "  ", json.dumps(second)]
    assert read_command_lines(lines, "stdin") == [first, second]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{nope", "in.jsonl line 1: not JSON"),
        ("[1, 2]", "in.jsonl line 1: a command envelope must be a JSON object"),
        ('{"type": "OpenCase"}', "in.jsonl line 1: command_id is required"),
        (
            '{"type": "OpenCase", "command_id": "7", "aggregate_id": "x"}',
            "in.jsonl line 1: command_id must be a UUID, got '7'",
        ),
        (
            json.dumps({**open_case(CASE), "aggregate_id": 5}),
            "in.jsonl line 1: aggregate_id is required and must be a UUID string",
        ),
        (json.dumps({**open_case(CASE), "type": None}), "in.jsonl line 1: type is required"),
    ],
)
def test_bad_command_lines_name_the_line_and_field(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        read_command_lines([line], "in.jsonl")


def test_numbered_command_lines_say_where_each_came_from() -> None:
    first, second = open_case(CASE), open_case(CASE, 5)
    lines = [json.dumps(first), "", json.dumps(second)]
    assert read_numbered_command_lines(lines, "in.jsonl") == [
        ("in.jsonl line 1", first),
        ("in.jsonl line 3", second),
    ]
