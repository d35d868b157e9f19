"""``SupportAggregate.clone``: a copy that deciding a command can change without touching the
original, relying on the shape of aggregate state that these tests check on generated histories."""

from __future__ import annotations

import contextlib
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import pytest

from supportes.aggregates import AnyAggregate, Rejection, state_of
from supportes.aggregates.root_cause import RootCause
from supportes.simulation import TrafficGenerator
from tests.support.history import History

IMMUTABLE = (str, int, bool, type(None), UUID, datetime, Enum)


@pytest.fixture(scope="module")
def aggregates() -> list[AnyAggregate]:
    history = History()
    for envelope in TrafficGenerator(seed=11).commands(4000):
        with contextlib.suppress(Rejection):
            history.submit(envelope)
    return list(history.aggregates.values())


def _public_state(aggregate: AnyAggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}


def test_state_holds_only_what_clone_copies_deeply_enough(aggregates: list[AnyAggregate]) -> None:
    for aggregate in aggregates:
        for name, value in _public_state(aggregate).items():
            if isinstance(value, list):
                assert all(isinstance(v, IMMUTABLE) for v in value), name
            elif isinstance(value, dict):
                for item in value.values():
                    inner = item.values() if isinstance(item, dict) else [item]
                    assert all(isinstance(v, IMMUTABLE) for v in inner), name
            else:
                assert isinstance(value, IMMUTABLE), name


def test_changing_a_clone_leaves_the_original_as_it_was(aggregates: list[AnyAggregate]) -> None:
    with_actions = [a for a in aggregates if isinstance(a, RootCause) and a.actions]
    assert with_actions, "the generated history should plan preventive actions"
    for aggregate in aggregates:
        before = state_of(aggregate)
        twin = aggregate.clone()
        assert state_of(twin) == before
        for value in _public_state(twin).values():
            if isinstance(value, list):
                value.append("changed")
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, dict):
                        item["evidence"] = "changed"
                value["changed"] = "changed"
        assert state_of(aggregate) == before
