"""The interpreter settings of the batch processes."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from supportes.runtime import GC_THRESHOLDS, SWITCH_INTERVAL_S, tune_for_batches, tune_gc


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored")
def test_tuning_sets_gc_thresholds_and_switch_interval() -> None:
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    tune_for_batches()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)


@pytest.mark.usefixtures("restored")
def test_gc_tuning_alone_keeps_the_switch_interval() -> None:
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert sys.getswitchinterval() == pytest.approx(0.005)
