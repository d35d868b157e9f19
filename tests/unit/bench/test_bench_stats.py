"""Percentiles, rates and ETA of the benchmark harness (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportes.bench.progress import Progress
from supportes.bench.stats import eta_s, percentile, percentile_by_window, rate, scaled


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 0) == 7.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([7.0], 100) == 7.0


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 25) == pytest.approx(1.75)


def test_percentile_of_1_to_100() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)


@pytest.mark.parametrize("pct", [-0.1, 100.1])
def test_percentile_outside_0_100_is_refused(pct: float) -> None:
    with pytest.raises(ValueError, match="0-100"):
        percentile([1.0, 2.0], pct)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_percentile_is_monotonic_and_within_range(values: list[float], p: float, q: float) -> None:
    low, high = sorted((p, q))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


def test_rate_and_eta() -> None:
    assert rate(1000, 2.0) == 500.0
    assert rate(10, 0.0) == 0.0
    assert eta_s(0, 100, 5.0) is None
    assert eta_s(25, 100, 5.0) == pytest.approx(15.0)
    assert eta_s(120, 100, 5.0) == 0.0


def test_scaled_counts() -> None:
    assert scaled(100_000, 1.0) == 100_000
    assert scaled(100_000, 0.1) == 10_000
    assert scaled(100_000, 0.000001, minimum=1000) == 1000
    with pytest.raises(ValueError, match="positive"):
        scaled(10, 0)


def test_progress_logs_at_most_once_per_interval() -> None:
    emitted: list[str] = []

    class Recording(Progress):
        def _emit(self, message: str) -> None:
            emitted.append(message)

    now = [0.0]
    progress = Recording("b", "phase", 100, interval_s=2.0, clock=lambda: now[0])
    progress.advance(10)
    now[0] = 1.0
    progress.advance(10)
    assert emitted == []
    now[0] = 2.5
    progress.advance(10)
    assert emitted == ["progress"]
    assert progress.done == 30
    assert progress.elapsed_s == 2.5


def test_percentile_by_window_groups_samples_by_their_time() -> None:
    samples = [(10.0, 1.0), (10.5, 3.0), (11.2, 5.0), (13.9, 7.0), (10.9, 2.0)]
    assert percentile_by_window(samples, 10.0, 1.0, 50) == [2.0, 5.0, 7.0]  # 12.x is empty


def test_percentile_by_window_puts_a_sample_on_a_boundary_in_the_later_window() -> None:
    assert percentile_by_window([(1.0, 4.0), (2.0, 9.0)], 0.0, 1.0, 100) == [4.0, 9.0]


def test_percentile_by_window_refuses_a_window_of_no_length() -> None:
    with pytest.raises(ValueError, match="window must be positive"):
        percentile_by_window([(0.0, 1.0)], 0.0, 0.0, 99)
