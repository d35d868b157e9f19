"""The library's snapshots (JSON-transcoded) restore aggregates that decide identically."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from domain_gwt import CLOSABLE, CLOSED, RESOLVED, Scenario, Step, case, root_cause
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from supportes.aggregates import AnyAggregate, last_hash_of, state_of


def through_json_snapshot(aggregate: AnyAggregate) -> AnyAggregate:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    taken = Snapshot.take(aggregate)
    restored = Snapshot(
        originator_id=taken.originator_id,
        originator_version=taken.originator_version,
        timestamp=taken.timestamp,
        topic=taken.topic,
        state=transcoder.decode(transcoder.encode(taken.state)),
    ).mutate(None)
    assert isinstance(restored, type(aggregate))
    return restored


PLAN = ("PlanPreventiveAction", {"action_id": "a1", "kind": "training", "description": "x",
                                 "owner_id": "agent:dev"})  # fmt: skip
DONE = ("CompletePreventiveAction", {"action_id": "a1", "evidence": "done"})
INBOUND = ("RecordContact", {"direction": "inbound", "channel": "chat", "summary": "again"})


@pytest.mark.parametrize(
    ("start", "given", "next_steps"),
    [
        (case, RESOLVED, ["RecordFollowUp", "Close", "Reopen", "Resolve"]),
        (case, CLOSABLE, ["Close", "RateSatisfaction", "Reopen"]),
        (case, ("Assign",), ["Acknowledge", "Resolve", "Close", "Reopen"]),
        (case, CLOSED, ["RecordContact", "Close", "Reopen"]),
        (case, RESOLVED, ["Resolve", INBOUND, "Resolve"]),
        (case, (), ["Acknowledge", "Assign", "Resolve"]),
        (root_cause, (PLAN,), [DONE, "VerifyFix", "AttachCase", "VerifyFix"]),
        (root_cause, (PLAN, DONE, "VerifyFix"), ["AttachCase", "VerifyFix"]),
    ],
)
def test_a_restored_snapshot_decides_like_the_original(
    start: Callable[..., Scenario], given: tuple[Step, ...], next_steps: list[Step]
) -> None:
    original = start(*given)
    assert original.aggregate is not None
    restored = through_json_snapshot(original.aggregate)
    assert type(restored.status) is str  # enums come back as plain strings
    assert state_of(restored) == original.state
    assert last_hash_of(restored) == last_hash_of(original.aggregate)

    twin = Scenario(original.aggregate_id, aggregate=restored, events=list(original.events))
    twin.clock, twin.count = original.clock, original.count
    for step in next_steps:
        type_, payload = (step, None) if isinstance(step, str) else step
        a, b = original.when(type_, payload), twin.when(type_, payload)
        assert (a.rejection is None) == (b.rejection is None)
        if a.decision is not None and b.decision is not None:
            assert json.dumps(a.decision.events) == json.dumps(b.decision.events)
        else:
            assert a.rejection is not None
            assert b.rejection is not None
            assert a.rejection.code == b.rejection.code
    assert twin.state == original.state
