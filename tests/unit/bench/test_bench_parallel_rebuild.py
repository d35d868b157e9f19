"""The parallel rebuild comparison's pure parts: round order, ratios, table checks, metrics."""

from __future__ import annotations

import pytest

from supportes.bench.parallel_rebuild import (
    WORKERS,
    WorkersComparison,
    mismatches,
    round_order,
    round_ratios,
    workers_metrics,
)
from supportes.bench.process_tree import CpuSplit
from supportes.bench.replay_child import Replay
from supportes.bench.results import Result


def test_rounds_alternate_which_goes_first() -> None:
    assert round_order(1) == (1, WORKERS)
    assert round_order(2) == (WORKERS, 1)
    assert round_order(3) == (1, WORKERS)


def test_round_ratios_pair_rounds_in_order() -> None:
    assert round_ratios([100.0, 200.0], [150.0, 100.0]) == [150.0, 50.0]
    assert round_ratios([0.0, 100.0], [10.0, 90.0]) == [90.0]


def test_mismatches_name_tables_that_differ_or_are_missing() -> None:
    one = {"a": (3, "x"), "b": (1, "y")}
    assert mismatches(one, dict(one)) == []
    assert mismatches(one, {"a": (3, "z"), "c": (0, "")}) == ["a", "b", "c"]


def _replay(rate: float, workers: int, *, events: int = 1000) -> Replay:
    return Replay(
        events=events,
        seconds=events / rate,
        wall_s=events / rate + 1,
        peak_rss_kib=200 * 1024,
        samples=[],
        batches=1,
        batch_ms=[],
        peak_at=0,
        workers=workers,
        tree_peak_rss_kib=(200 + 200 * (workers - 1)) * 1024,
        tree_largest_hwm_kib=210 * 1024,
        tree_processes=1 + workers,
        cpu_s=2.0,
        cpu=CpuSplit(3.0, 0.9, {"postgresql": 1.0, "broker": 0.1}),
    )


def test_metrics_give_rates_ratio_memory_cpu_and_the_check() -> None:
    sums = {"case_view": (10, "m")}
    comparison = WorkersComparison(
        1000,
        {1: [_replay(100.0, 1), _replay(200.0, 1)], 2: [_replay(150.0, 2), _replay(100.0, 2)]},
        {1: [sums, dict(sums)], 2: [dict(sums), dict(sums)]},
    )
    result = Result("projection-replay")
    workers_metrics(result, comparison)
    assert result.value("replay 1k, 1 worker") == pytest.approx(150.0)
    assert result.value("replay 1k, 2 workers") == pytest.approx(125.0)
    assert result.value("2 workers / 1 at 1k") == pytest.approx(100.0)  # median of 150 and 50
    assert result.value("peak RSS 1k tree, 2 workers") == pytest.approx(400.0)
    assert result.value("machine busy 1k, 2 workers") == pytest.approx(90.0)
    assert result.value("tables 2 workers = 1") == 1


def test_a_differing_table_fails_the_check() -> None:
    comparison = WorkersComparison(
        1000,
        {1: [_replay(100.0, 1)], 2: [_replay(100.0, 2)]},
        {1: [{"case_view": (10, "m")}], 2: [{"case_view": (10, "other")}]},
    )
    result = Result("projection-replay")
    workers_metrics(result, comparison)
    assert result.value("tables 2 workers = 1") == 0
    notes = next(m.notes for m in result.metrics if m.name == "tables 2 workers = 1")
    assert "MISMATCH case_view (2 workers run 1)" in notes
