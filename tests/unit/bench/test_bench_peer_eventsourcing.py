"""The eventsourcing peer (issue 20, item 5): the same rules as supportes' decide, the library
saving and reloading supportes' aggregates as they are, and the benchmark's small helpers."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from supportes.aggregates import Rejection, decide, parse_command
from supportes.aggregates.base import SupportAggregate
from supportes.aggregates.dispatch import AnyAggregate, state_of
from supportes.aggregates.wire import wire_name
from supportes.bench.peer_eventsourcing import (
    Handled,
    PeerRun,
    _application_class,
    _Counter,
    follow_on_envelopes,
    latency_rate,
    median_ratio,
    passfile_match,
    peer_decide,
    postgres_env,
    worker_of,
)
from supportes.simulation import TrafficGenerator

MIX = 3000


def _mix(count: int = MIX) -> list[dict[str, Any]]:
    return list(TrafficGenerator(seed=2026).commands(count))


def test_the_peer_decides_the_mix_exactly_as_decide_does() -> None:
    ours: dict[UUID, AnyAggregate] = {}
    theirs: dict[UUID, AnyAggregate] = {}
    pending = deque(_mix())
    outcomes = {"accepted": 0, "rejected": 0, "follow-ons": 0}
    while pending:
        command = parse_command(pending.popleft())
        current = ours.get(command.aggregate_id)
        try:
            decision = decide(command, current, last_hash=None)
        except Rejection as expected:
            code = expected.code
            with pytest.raises(Rejection) as refused:
                peer_decide(command, theirs.get(command.aggregate_id))
            assert refused.value.code == code
            outcomes["rejected"] += 1
            continue
        aggregate = peer_decide(command, theirs.get(command.aggregate_id))
        events = cast(list[SupportAggregate.Event], aggregate.collect_events())
        assert [wire_name(e) for e in events] == [e["type"] for e in decision.events]
        follow_ons = follow_on_envelopes(command, events)
        assert follow_ons == decision.follow_on_commands
        ours[command.aggregate_id] = decision.aggregate
        theirs[command.aggregate_id] = aggregate
        assert state_of(aggregate) == state_of(decision.aggregate)
        pending.extend(follow_ons)
        outcomes["accepted"] += 1
        outcomes["follow-ons"] += len(follow_ons)
    # the mix exercises every path compared here
    assert outcomes["accepted"] > MIX // 2
    assert outcomes["rejected"] > 0
    assert outcomes["follow-ons"] > 0


def test_the_library_saves_and_reloads_supportes_aggregates_as_they_are() -> None:
    """Application.save() and repository.get() with the library's in-memory persistence (the
    same mapper and JSON transcoder as its PostgreSQL module): the reloaded aggregates have the
    state the commands gave them in memory."""
    app = _application_class()({"PERSISTENCE_MODULE": "eventsourcing.popo"}, timedelta(days=3650))
    reference: dict[UUID, AnyAggregate] = {}
    pending = deque(_mix(1500))
    accepted = 0
    try:
        while pending:
            raw = pending.popleft()
            handled: Handled = app.handle(raw)
            pending.extend(handled.follow_ons)
            command = parse_command(raw)
            try:
                decision = decide(command, reference.get(command.aggregate_id), last_hash=None)
            except Rejection:
                assert not handled.accepted
                continue
            assert handled.accepted
            assert handled.events == len(decision.events)
            reference[command.aggregate_id] = decision.aggregate
            accepted += 1
        for aggregate_id, expected in reference.items():
            assert state_of(app.repository.get(aggregate_id)) == state_of(expected)
    finally:
        app.close()
    assert accepted > 700


def test_threads_are_chosen_by_aggregate_id_stably_and_within_range() -> None:
    ids = [str(UUID(int=n)) for n in range(500)]
    picks = [worker_of(i, 4) for i in ids]
    assert picks == [worker_of(i, 4) for i in ids]
    assert set(picks) == {0, 1, 2, 3}
    assert {worker_of(i, 1) for i in ids} == {0}
    with pytest.raises(ValueError, match="workers"):
        worker_of(ids[0], 0)


def test_the_library_environment_comes_from_the_dsn(tmp_path: Path) -> None:
    env = postgres_env("postgresql://u:pw@127.0.0.1:25432/bench_x", pool_size=7)
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "bench_x",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "25432",
        "POSTGRES_USER": "u",
        "POSTGRES_PASSWORD": "pw",
        "POSTGRES_POOL_SIZE": "7",
    }
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:25432:other:u:no\n127.0.0.1:25432:*:u:secret\n")
    env = postgres_env(f"host=127.0.0.1 port=25432 dbname=bench_y user=u passfile={passfile}")
    assert env["POSTGRES_PASSWORD"] == "secret"
    assert "POSTGRES_POOL_SIZE" not in env


def test_passfile_lines_match_with_wildcards_first_match_wins() -> None:
    text = "# comment\n\nbad line\nh:1:d:u:first\n*:*:*:u:second\n"
    assert passfile_match(text, "h", "1", "d", "u") == "first"
    assert passfile_match(text, "x", "2", "e", "u") == "second"
    assert passfile_match(text, "h", "1", "d", "someone") == ""
    assert passfile_match("h:1:d:u:pass:with:colons\n", "h", "1", "d", "u") == "pass:with:colons"


def test_the_ratio_is_the_median_of_each_rounds_ratio() -> None:
    # rounds 2x, 4x, 3x: the median is 3x; the ratio of the medians would be 3000/1000
    assert median_ratio([2000, 4000, 3000], [1000, 1000, 1000]) == 3.0
    # 4000/1000 and 1000/1000: 2.5; the ratio of the medians would be 2500/1000 too, but
    # [4000, 1000] against [2000, 500] (2x and 2x) tells them apart: 2x, not 2500/1250
    assert median_ratio([4000, 1000], [2000, 500]) == 2.0
    with pytest.raises(ValueError, match="no round"):
        median_ratio([1.0], [0.0])


def test_the_latency_rate_is_half_the_peer_throughput_in_steps() -> None:
    assert latency_rate(437.0) == 200
    assert latency_rate(1000.0) == 500
    assert latency_rate(60.0) == 50  # never below one step
    assert latency_rate(900.0, share=0.25, step=100) == 200


def test_the_run_is_drained_only_when_every_follow_on_is_done() -> None:
    counter = _Counter()
    counter.add(2)  # two commands sent
    counter.add(1)  # the first one's follow-on, counted before it is queued
    counter.done(Handled(True, 1, [{"follow-on": 1}], 0.001, 0.002, 0.003))
    counter.done(Handled(True, 1, [], 0.001, 0.002, 0.003))
    assert not counter.drained.is_set()
    counter.done(Handled(False, 0, []))
    assert counter.drained.is_set()
    assert (counter.accepted, counter.events, counter.follow_ons) == (2, 2, 1)
    assert counter.seconds == pytest.approx([0.002, 0.004, 0.006])


def test_the_time_per_request_counts_follow_ons_as_requests() -> None:
    run = PeerRun(
        rate=1.0,
        commands=3,
        follow_ons=1,
        accepted=4,
        events=4,
        latencies=[],
        stored=4,
        load_s=0.004,
        decide_s=0.002,
        save_s=0.008,
    )
    assert run.share() == "load 1.00, decide 0.50, save 2.00 ms"
