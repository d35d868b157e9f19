"""The live catch-up benchmark's pure figures: lag as `projections status` sums it, the drain
after the burst's last result, the CPU between two samples."""

from __future__ import annotations

import pytest

from supportes.bench.projector_catch_up import (
    Applied,
    Drain,
    LagSample,
    Run,
    catch_up,
    cpu_between,
    drain_metrics,
    lag_of,
)
from supportes.bench.replay_child import Replay
from supportes.bench.results import Result


def test_lag_sums_every_projection_and_partition_missing_offsets_at_zero() -> None:
    ends = {0: 10, 1: 5}
    stored = {("a", 0): 7, ("a", 1): 6, ("b", 0): 10}
    # a: 3 + 0 (stored ahead reads 0); b: 0 + 5 (nothing stored for partition 1)
    assert lag_of(ends, stored, ["a", "b"]) == 8
    assert lag_of({}, stored, ["a"]) == 0


def _samples(*points: tuple[float, int]) -> list[LagSample]:
    return [LagSample(at, lag, 0) for at, lag in points]


def test_catch_up_times_the_drain_from_the_last_result() -> None:
    samples = _samples((0.0, 0), (1.0, 50), (2.0, 300), (3.0, 120), (3.5, 40), (4.0, 0), (5.0, 0))
    applied = [
        Applied(0.5, 100, 10.0),
        Applied(1.5, 200, 10.0),
        Applied(3.2, 600, 10.0),
        Applied(3.8, 400, 10.0),
        Applied(4.5, 0, 1.0),  # an idle position stored: no events
    ]
    figures = catch_up(samples, applied, began=0.0, last_result=3.0)
    assert figures.events == 1300
    assert figures.burst_s == 3.0
    assert (figures.max_lag, figures.max_lag_at_s) == (300, 2.0)
    assert figures.lag_at_last_result == 120
    assert figures.drain_s == pytest.approx(1.0)
    assert figures.last_applied_s == pytest.approx(0.8)
    assert (figures.drained_events, figures.drain_batches, figures.burst_batches) == (1000, 2, 2)
    assert figures.drain_rate == pytest.approx(1000.0)
    assert figures.whole_s == pytest.approx(4.0)
    assert figures.whole_rate == pytest.approx(325.0)


def test_a_lag_never_back_at_zero_has_no_drain_time() -> None:
    figures = catch_up(_samples((0.0, 0), (2.0, 30)), [], began=0.0, last_result=1.0)
    assert figures.drain_s is None
    assert figures.drain_rate == 0.0
    assert figures.whole_rate == 0.0


def test_cpu_between_two_samples_in_cores() -> None:
    first = LagSample(10.0, 0, 0, {"serve": 1.0, "postgresql": 2.0}, (100, 1000))
    last = LagSample(12.0, 0, 0, {"serve": 2.0, "postgresql": 3.0}, (460, 1400))
    used = cpu_between(first, last, cores=2)
    assert used["serve"] == pytest.approx(0.5)
    assert used["postgresql"] == pytest.approx(0.5)
    assert used["busy"] == pytest.approx(0.9)
    assert used["rest"] == pytest.approx(0.8)  # 1.8 cores busy, 1.0 of them named
    assert cpu_between(last, first, cores=2) == {}


def _run_with_drains() -> Run:
    figures = catch_up(_samples((0.0, 0), (2.0, 0)), [Applied(1.0, 100, 5.0)], 0.0, 1.0)
    replays = [
        Replay(
            events=100,
            seconds=1.0,
            wall_s=2.0,
            peak_rss_kib=1,
            samples=[],
            batches=1,
            batch_ms=[],
            peak_at=0,
        ),
        Replay(
            events=100,
            seconds=0.5,
            wall_s=1.0,
            peak_rss_kib=1,
            samples=[],
            batches=1,
            batch_ms=[],
            peak_at=0,
        ),
    ]
    drains = [
        Drain(100, 0.5, 1.0, [Applied(1.0, 100, 5.0)], {"busy": 0.5, "serve": 0.4}),
        Drain(100, 0.25, 1.0, [Applied(1.0, 100, 5.0)], {}),
    ]
    return Run(
        commands=50,
        send_s=0.1,
        results=50,
        figures=figures,
        samples=[],
        applied=[],
        last_result=1.0,
        began=0.0,
        writer_events=100,
        timeline_rows=100,
        replay=replays[0],
        drains=drains,
        replays=replays,
    )


def test_live_drains_are_paired_with_the_rebuilds_of_their_rounds() -> None:
    result = Result("projector-catch-up")
    drain_metrics(result, _run_with_drains())
    assert result.value("live drain of the log") == pytest.approx(300.0)  # 200 and 400
    assert result.value("rebuild of the log") == pytest.approx(150.0)  # 100 and 200
    assert result.value("live drain / rebuild") == pytest.approx(200.0)  # 200 % both rounds
