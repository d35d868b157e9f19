"""Any interleaving of the aggregates' streams, cut into any batches, gives the same tables."""

from __future__ import annotations

import random
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportes.aggregates import Rejection
from supportes.projections.base import LoggedEvent
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.integration.projections.stories import extra_cases, story
from tests.integration.projections.test_proj_metrics import _three_days
from tests.support.history import History, apply_all, clear_tables, dump_tables, interleave


@cache
def _log() -> tuple[LoggedEvent, ...]:
    """The scripted stories plus a slice of synthetic traffic (rejected commands skipped)."""
    h = extra_cases(story())
    h.events.extend(_three_days().events)
    synthetic = History()
    for envelope in TrafficGenerator(seed=3, concurrent_cases=12, customers=8,
                                     root_causes=3).commands(260):  # fmt: skip
        try:
            synthetic.submit(envelope)
        except Rejection:  # the generator breaks rules on purpose
            continue
    return (*h.events, *synthetic.events)


@settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 90), min_size=1, max_size=6))
def test_interleavings_and_batches_do_not_matter(
    isolated: Isolated, seed: int, sizes: list[int]
) -> None:
    events = _log()
    baseline = _baseline(isolated)
    clear_tables(isolated.dsn)
    apply_all(isolated.dsn, interleave(events, random.Random(seed)), batch_size=sizes)
    assert dump_tables(isolated.dsn) == baseline


_BASELINES: dict[str, object] = {}


def _baseline(isolated: Isolated) -> object:
    """The tables from the log in its own order, in one batch (computed once per database)."""
    if isolated.database not in _BASELINES:
        clear_tables(isolated.dsn)
        apply_all(isolated.dsn, _log(), batch_size=len(_log()))
        _BASELINES[isolated.database] = dump_tables(isolated.dsn)
    return _BASELINES[isolated.database]


def test_the_log_fills_every_table(isolated: Isolated) -> None:
    apply_all(isolated.dsn, _log(), batch_size=50)
    empty = [table for table, found in dump_tables(isolated.dsn).items() if not found]
    assert empty == []
