"""Spreading projections over the projector's connections."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportes.consumers.lanes import spread


def test_heaviest_first_to_the_lightest_lane() -> None:
    # case_view 35, timeline 11, responsibility 9, follow_ups 10, repeat_issues 11, metrics 10
    assert spread([35, 11, 9, 10, 11, 10], 2) == [[0, 2], [1, 3, 4, 5]]


def test_one_lane_holds_everything_and_more_lanes_than_weights_leave_none_empty() -> None:
    assert spread([5, 1, 3], 1) == [[0, 1, 2]]
    assert spread([5, 1], 4) == [[0], [1]]
    assert spread([], 2) == [[]]


def test_no_lanes_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        spread([1], 0)


@given(st.lists(st.integers(1, 100), max_size=12), st.integers(1, 8))
def test_every_index_lands_in_exactly_one_lane(weights: list[int], lanes: int) -> None:
    groups = spread(weights, lanes)
    assert sorted(i for g in groups for i in g) == list(range(len(weights)))
    assert len(groups) == max(1, min(lanes, len(weights)))
    assert all(groups) or not weights
    assert spread(weights, lanes) == groups  # deterministic
