"""The projection replay benchmark's pure parts: domain events, log lines, memory figures."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from supportes.bench.output_ceiling import OutputCopy
from supportes.bench.pg_statements import OwnerTime, StatementView
from supportes.bench.process_tree import CpuSplit
from supportes.bench.projection_bench import (
    Ceilings,
    _summary_metrics,
    output_metrics,
    where_time_goes,
)
from supportes.bench.replay_child import Replay
from supportes.bench.replay_events import DomainEvents, DomainStats, Published
from supportes.bench.replay_helpers import (
    growth_pct,
    parse_log_line,
    parse_proc_status,
    rss_when,
    short_count,
    steady_rss,
    tenths,
)
from supportes.bench.results import Result

STATUS = """Name:\tsupportes
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t  812344 kB
VmHWM:\t  153600 kB
VmRSS:\t  120012 kB
Threads:\t3
SigQ:\t0/95844
"""


def test_parse_log_line_reads_json_objects_only() -> None:
    line = '{"event": "rebuild swapped in", "events": 1000, "seconds": 2.5}\n'
    assert parse_log_line(line) == {"event": "rebuild swapped in", "events": 1000, "seconds": 2.5}
    assert parse_log_line("rebuilt case_view: 1000 events in 2.5s") is None
    assert parse_log_line("{not json") is None
    assert parse_log_line("[1, 2]") is None
    assert parse_log_line("") is None


def test_parse_proc_status_keeps_kib_fields() -> None:
    fields = parse_proc_status(STATUS)
    assert fields == {"VmPeak": 812344, "VmHWM": 153600, "VmRSS": 120012}


def test_parse_proc_status_of_a_zombie_has_no_memory() -> None:
    assert parse_proc_status("Name:\tsupportes\nState:\tZ (zombie)\n") == {}


def test_rss_when_takes_the_first_sample_that_got_there() -> None:
    samples = [(0, 90), (400, 100), (600, 110), (1000, 111)]
    assert rss_when(samples, 500) == 110
    assert rss_when(samples, 400) == 100
    assert rss_when(samples, 0) == 90
    assert rss_when(samples, 1001) is None
    assert rss_when([], 1) is None


def test_steady_rss_is_the_median_after_the_start() -> None:
    samples = [(0, 500), (100, 90), (200, 100), (300, 120), (400, 110)]
    assert steady_rss(samples, 0) == 105  # (100 + 110) // 2; the start's 500 left out
    assert steady_rss(samples, 100) == 110
    assert steady_rss(samples, 400) is None
    assert steady_rss([], 0) is None


def test_growth_pct() -> None:
    assert growth_pct(100, 110) == pytest.approx(10.0)
    assert growth_pct(200, 150) == pytest.approx(-25.0)
    assert growth_pct(0, 5) == 0.0


def test_tenths() -> None:
    values = [float(v) for v in range(1, 101)]
    assert tenths(values) == (pytest.approx(5.5), pytest.approx(95.5))
    assert tenths([3.0, 5.0]) == (3.0, 5.0)
    with pytest.raises(ValueError, match="empty"):
        tenths([])


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (2500, "2.5k"),
        (10_000, "10k"),
        (100_000, "100k"),
        (1_000_000, "1M"),
        (1_500_000, "1.5M"),
        (12_000_000, "12M"),
    ],
)
def test_short_count(count: int, text: str) -> None:
    assert short_count(count) == text


def _take(stream: DomainEvents, count: int) -> list[dict[str, Any]]:
    return list(itertools.islice(stream, count))


def test_domain_events_are_chained_per_aggregate_and_include_follow_ons() -> None:
    stream = DomainEvents(seed=5)
    events = _take(stream, 3000)
    versions: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for event in events:
        aggregate_id = event["aggregate_id"]
        assert event["version"] == versions.get(aggregate_id, 0) + 1
        assert event["prev_hash"] == hashes.get(aggregate_id)
        versions[aggregate_id] = event["version"]
        hashes[aggregate_id] = event["hash"]
    types = {event["type"] for event in events}
    assert {"RootCauseIdentified", "CaseOpened", "CaseAttached", "CaseClosed"} <= types
    assert stream.stats.events >= 3000
    assert stream.stats.follow_ons > 0
    assert stream.stats.rejected > 0  # the generator's deliberate mistakes


def test_domain_events_are_deterministic_and_bounded() -> None:
    first = _take(DomainEvents(seed=9), 500)
    assert _take(DomainEvents(seed=9), 500) == first
    small = DomainEvents(seed=9, cache_size=50)
    _take(small, 2000)
    assert len(small._cache) <= 50


def test_summary_reports_rss_drift_within_the_large_replay_and_the_verdict() -> None:
    def replay(events: int, samples: list[tuple[int, int]]) -> Replay:
        return Replay(events, events / 25_000, 1.0, 200 * 1024, samples, 1, [1.0], 0)

    ceiling = Ceilings(100_000, "", 150_000, 140_000, 10_000)
    small = replay(100_000, [(50_000, 180 * 1024), (100_000, 190 * 1024)])
    large = replay(1_000_000, [(250_000, 200 * 1024), (600_000, 205 * 1024), (10**6, 210 * 1024)])
    result = Result("projection-replay")
    _summary_metrics(
        result,
        [(100_000, small, ceiling), (1_000_000, large, ceiling)],
        Published(events=1_000_000, seconds=100.0),
        DomainStats(),
    )
    assert result.value("RSS drift in 1M") == pytest.approx(5.0)
    target = next(m for m in result.metrics if m.name == "target")
    assert target.notes == "issue 5, at 1M events: met"


def test_log_records_yields_json_records_and_keeps_the_rest_in_the_tail() -> None:
    from collections import deque

    from supportes.bench.replay_helpers import log_records

    lines = [
        b'{"event": "batch projected", "events": 10, "level": "info"}\n',
        b"Traceback (most recent call last):\n",
        b'{"event": "broker away", "level": "warning"}\n',
        b"\n",
    ]
    tail: deque[str] = deque(maxlen=5)
    records = list(log_records(lines, tail))
    assert [r["event"] for r in records] == ["batch projected", "broker away"]
    assert list(tail) == [
        "Traceback (most recent call last):",
        '{"event": "broker away", "level": "warning"}',
    ]


def test_where_the_time_goes_gives_cpu_per_event_and_the_bound_postgresql_sets() -> None:
    replay = Replay(200_000, 10.0, 11.0, 1, [], 1, [1.0], 0, cpu_s=8.0)
    replay.cpu = CpuSplit(11.0, 0.7, {"postgresql": 6.0, "broker": 0.5})
    ceiling = Ceilings(120_000, "", 150_000, 140_000, 10_000)
    statements = StatementView(times=[OwnerTime("case_view", 3.0, 1, 1), OwnerTime("x", 1.0, 1, 1)])
    result = Result("projection-replay")
    where_time_goes(result, 200_000, replay, ceiling, statements)
    per_event = next(m for m in result.metrics if m.name == "replay 200k CPU per event")
    assert per_event.value == pytest.approx(40.0 + 30.0)  # 8 s and 6 s over 200k events
    assert "rebuild process 40.0 us + PostgreSQL servers 30.0 us" in per_event.notes
    assert "33,333 events/s = 28 % of the bare read" in per_event.notes  # 1 / 30 us
    pg = next(m for m in result.metrics if m.name == "replay 200k PostgreSQL statement time")
    assert pg.value == pytest.approx(4.0)
    assert "case_view 3.0 s (75 %), x 1.0 s (25 %)" in pg.notes


def test_where_the_time_goes_says_why_postgresql_could_not_say() -> None:
    replay = Replay(1000, 1.0, 1.0, 1, [], 1, [1.0], 0)
    result = Result("projection-replay")
    where_time_goes(
        result, 1000, replay, Ceilings(1, "", 1, 1, 1), StatementView(reason="not loaded")
    )
    assert [(m.name, m.notes) for m in result.metrics] == [
        ("replay 1k PostgreSQL statement time", "not loaded")
    ]


def test_the_output_ceiling_is_set_beside_the_replay() -> None:
    output = OutputCopy(rows=900_000, seconds=4.0, by_table={"a": 1.0, "b": 2.5, "c": 0.5})
    assert output.note(top=2) == "b 2.5 s, a 1.0 s"
    replay = Replay(200_000, 10.0, 11.0, 1, [], 1, [1.0], 0)  # 20,000 events/s
    result = Result("projection-replay")
    output_metrics(result, 200_000, replay, output)
    ceiling = result.value("pg COPY of the output 200k")
    assert ceiling == pytest.approx(50_000)  # 200k events' output in 4 s
    assert result.value("replay / output COPY 200k") == pytest.approx(40.0)
    empty = Result("projection-replay")
    output_metrics(empty, 200_000, replay, OutputCopy())
    assert empty.metrics == []  # not measured: no row
