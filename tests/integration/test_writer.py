"""The write path against the real broker and server: results, ordering, idempotency, poison,
optimistic concurrency and fencing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from supportes.client import SupportesClient
from supportes.consumers.ownership import TRANSACTION_TIMEOUT_MS
from supportes.consumers.writer import Writer, WriterHooks
from supportes.eventstore.index import EventIndex
from supportes.messaging.routing import partition_for
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.support.commands import command, open_case
from tests.support.log import read_topic, running_writer


def test_each_command_gets_one_result_and_events_follow_version_order(isolated: Isolated) -> None:
    settings = isolated.settings
    commands = list(TrafficGenerator(seed=3, concurrent_cases=30).commands(600))
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit(commands, timeout_s=120)

    assert [r["command_id"] for r in results] == [c["command_id"] for c in commands]
    statuses = Counter(r["status"] for r in results)
    assert statuses["accepted"] > 550
    on_log = Counter(v["command_id"] for _, _, _, v in read_topic(settings, "results"))
    assert set(on_log.values()) == {1}

    events = read_topic(settings, "events")
    versions: dict[str, list[int]] = defaultdict(list)
    for partition, _offset, key, envelope in events:
        assert key == envelope["aggregate_id"].encode()
        assert partition == partition_for(envelope["aggregate_id"], settings.partitions)
        versions[envelope["aggregate_id"]].append(envelope["version"])
    for aggregate_versions in versions.values():
        assert aggregate_versions == list(range(1, len(aggregate_versions) + 1))
    accepted_events = sum(len(r["events"]) for r in results if r["status"] == "accepted")
    follow_on_events = sum(1 for *_, e in events if e["type"] == "CaseAttached")
    assert len(events) == accepted_events + follow_on_events


def test_resubmitted_command_gets_its_first_result_and_writes_nothing(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    opening = open_case(case_id)
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        first = client.submit([opening])[0]
        again = client.submit([opening])[0]
        late = client.submit([command("Acknowledge", case_id, minutes=1)])[0]
    assert first["status"] == "accepted"
    assert again == first
    assert late["version"] == 2
    assert [e["type"] for *_, e in read_topic(settings, "events")] == [
        "CaseOpened",
        "CaseAcknowledged",
    ]


def test_poison_records_go_to_dead_letters_and_never_stall(isolated: Isolated) -> None:
    settings = isolated.settings
    case_ids = [str(uuid.uuid4()) for _ in range(30)]
    valid = [open_case(c) for c in case_ids]
    unknown = command("Teleport", case_ids[0])
    invalid = command("RateSatisfaction", case_ids[1], {"score": 9})
    garbage = [b"\x00\xff not json", b"[1, 2, 3]", b'{"command_id": "nope"}']
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        for index, raw in enumerate(garbage):
            client._producer.send(  # raw bytes straight onto every partition's path
                settings.topic("commands"), value=raw, key=case_ids[index].encode()
            )
        results = client.submit([*valid, unknown, invalid], timeout_s=60)

    assert all(r["status"] == "accepted" for r in results[:30])
    assert results[30]["error"]["code"] == "unknown_command"
    assert results[31]["error"] == {
        "code": "invalid",
        "field": "payload.score",
        "message": results[31]["error"]["message"],
    }
    dead = read_topic(settings, "dead-letters")
    assert len(dead) == 5  # three garbage records, the unknown type and the invalid payload


def test_conflicting_expected_versions_let_exactly_one_win(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    with running_writer(settings, isolated.group_id):
        with SupportesClient(settings) as client:
            assert client.submit([open_case(case_id)])[0]["version"] == 1

        def contender(n: int, version: int) -> dict[str, object]:
            with SupportesClient(settings) as own:
                envelope = command(
                    "Assign",
                    case_id,
                    {"agent_id": f"agent:{n}"},
                    minutes=1,
                    expected_version=version,
                )
                return own.submit([envelope], timeout_s=60)[0]

        for round_version in (1, 2, 3):
            with ThreadPoolExecutor(max_workers=8) as pool:
                outcomes = list(pool.map(contender, range(8), [round_version] * 8))
            winners = [o for o in outcomes if o["status"] == "accepted"]
            assert len(winners) == 1
            assert winners[0]["version"] == round_version + 1
            losers = {o["error"]["code"] for o in outcomes if o["status"] == "rejected"}  # type: ignore[index]
            assert losers == {"version_conflict"}


def test_a_second_writer_fences_the_first(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    partition = partition_for(case_id, settings.partitions)
    zombie_at_commit = threading.Event()
    release_zombie = threading.Event()

    def stall(p: int) -> None:
        zombie_at_commit.set()
        release_zombie.wait(60)

    zombie = Writer(
        settings,
        group_id=isolated.group_id,
        partitions=[partition],
        hooks=WriterHooks(before_commit=stall),
    )
    zombie_errors: list[BaseException] = []

    def zombie_loop() -> None:
        try:
            while not release_zombie.is_set() or zombie_at_commit.is_set():
                zombie.run_once(100)
                if release_zombie.is_set():
                    break
        except BaseException as exc:
            zombie_errors.append(exc)

    with SupportesClient(settings) as client:
        client.send([open_case(case_id)])
        thread = threading.Thread(target=zombie_loop, daemon=True)
        thread.start()
        assert zombie_at_commit.wait(60), "the first writer reached its commit"
        successor = Writer(settings, group_id=isolated.group_id, partitions=[partition])
        successor.run_once(100)  # takes the partition: init_transactions fences the zombie
        release_zombie.set()
        thread.join(60)
        assert zombie.partitions[partition].fenced
        for _ in range(50):
            successor.run_once(100)
            if read_topic(settings, "results"):
                break
        successor.close()
    zombie.close()

    results = read_topic(settings, "results")
    events = read_topic(settings, "events")
    assert len(results) == 1  # the zombie's result never became visible
    assert [e["type"] for *_, e in events] == ["CaseOpened"]
    assert not zombie_errors


def _zombie_and_successor(
    isolated: Isolated,
    stall_at: str,
    case_id: str,
    follow_up: dict[str, Any] | None = None,
    *,
    dead_for_good: bool = False,
) -> tuple[Writer, list[BaseException]]:
    """Group mode: a zombie stalls at ``stall_at`` (a WriterHooks field) while deciding the
    opening of ``case_id`` until it has left the group (max poll interval) and a successor owns
    the partition; then it goes on (``dead_for_good``: only once the successor has answered).
    The successor then handles ``follow_up``. Returns the closed zombie and what its loop
    raised."""
    settings = isolated.settings
    tp = TopicPartition(settings.topic("commands"), partition_for(case_id, settings.partitions))
    stalled = threading.Event()
    release = threading.Event()

    def stall(partition: int) -> None:
        if partition == tp.partition and not stalled.is_set():
            stalled.set()
            release.wait(60)

    zombie = Writer(
        settings,
        group_id=isolated.group_id,
        instance="zombie",
        hooks=WriterHooks(**{stall_at: stall}),
        consumer_config={"max_poll_interval_ms": 4000},
    )
    errors: list[BaseException] = []

    def zombie_loop() -> None:
        try:
            while not release.is_set():
                zombie.run_once(100)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=zombie_loop, daemon=True)
    thread.start()
    with SupportesClient(settings) as client:
        client.send([open_case(case_id)])
        assert stalled.wait(60), "the zombie reached its stall"
        with running_writer(settings, isolated.group_id, instance="successor") as successor:
            deadline = time.monotonic() + 60
            while tp not in successor.consumer.assignment() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert tp in successor.consumer.assignment(), "the successor took the partition"
            if not dead_for_good:
                release.set()
                thread.join(60)
            if follow_up is not None:
                assert client.submit([follow_up], timeout_s=60)[0]["status"] == "accepted"
            while not read_topic(settings, "results") and time.monotonic() < deadline:
                time.sleep(0.2)
    release.set()
    thread.join(60)
    zombie.close()
    return zombie, errors


def test_a_zombie_without_its_group_generation_commits_nothing(isolated: Isolated) -> None:
    """EOS v2 counterpart of the fencing test: the zombie's offsets carry a generation the group
    left behind, so ``send_offsets_to_transaction`` fails; it aborts and drops its partitions."""
    zombie, errors = _zombie_and_successor(isolated, "before_send_offsets", str(uuid.uuid4()))

    assert not errors
    assert not zombie.partitions  # every partition dropped after the generation error
    results = read_topic(isolated.settings, "results")
    events = read_topic(isolated.settings, "events")
    assert len(results) == 1  # the successor's; the zombie's aborted one never became visible
    assert [e["type"] for *_, e in events] == ["CaseOpened"]


def test_a_pending_offset_commit_holds_the_successor_back(isolated: Isolated) -> None:
    """The zombie's offsets were accepted before it lost the group, then it stalled before the
    commit: the successor's stable offset fetch waits for that transaction, which commits, and the
    successor catches up from it rather than deciding the command again."""
    case_id = str(uuid.uuid4())
    acknowledge = command("Acknowledge", case_id, minutes=1)
    settings = isolated.settings
    _, errors = _zombie_and_successor(isolated, "before_commit", case_id, follow_up=acknowledge)

    assert not errors
    results = [v for *_, v in read_topic(settings, "results")]
    assert Counter(r["command_id"] for r in results).most_common(1)[0][1] == 1
    assert [r["version"] for r in results] == [1, 2]
    assert [e["type"] for *_, e in read_topic(settings, "events")] == [
        "CaseOpened",
        "CaseAcknowledged",
    ]


def test_a_writer_dead_for_good_holds_its_partition_until_its_transaction_times_out(
    isolated: Isolated,
) -> None:
    """Its offsets are pending and never committed: the successor waits (stable offset fetch)
    until the coordinator aborts the transaction (transaction_timeout_ms), then decides the
    command itself. The dead writer's late commit then fails."""
    case_id = str(uuid.uuid4())
    began = time.monotonic()
    _, errors = _zombie_and_successor(isolated, "before_commit", case_id, dead_for_good=True)
    took = time.monotonic() - began

    assert not errors
    results = [v for *_, v in read_topic(isolated.settings, "results")]
    assert len(results) == 1
    assert [e["type"] for *_, e in read_topic(isolated.settings, "events")] == ["CaseOpened"]
    assert took > TRANSACTION_TIMEOUT_MS / 1000  # it did wait for the abort


def test_two_live_writers_with_one_instance_id_still_answer_each_command_once(
    isolated: Isolated,
) -> None:
    """A misconfiguration: each writer's init_transactions fences the other's producer, which
    starts over (new producer, partitions re-opened from the log); slow, never doubled."""
    settings = isolated.settings
    commands = list(TrafficGenerator(seed=9, concurrent_cases=20).commands(300))
    with (
        running_writer(settings, isolated.group_id, instance="same"),
        running_writer(settings, isolated.group_id, instance="same"),
        SupportesClient(settings) as client,
    ):
        results = client.submit(commands, timeout_s=180)

    assert [r["command_id"] for r in results] == [c["command_id"] for c in commands]
    assert set(Counter(v["command_id"] for *_, v in read_topic(settings, "results")).values()) == {
        1
    }
    versions: dict[str, list[int]] = defaultdict(list)
    for *_, envelope in read_topic(settings, "events"):
        versions[envelope["aggregate_id"]].append(envelope["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())


def test_the_index_matches_the_log(isolated: Isolated) -> None:
    settings = isolated.settings
    commands = list(TrafficGenerator(seed=5, concurrent_cases=20).commands(300))
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        client.submit(commands, timeout_s=120)
    log_events = {
        (e["aggregate_id"], e["version"]): (p, o, e)
        for p, o, _, e in read_topic(settings, "events")
    }
    index = EventIndex(isolated.dsn)
    try:
        indexed = index.envelopes_of(uuid.UUID(a) for a, _ in log_events)
    finally:
        index.close()
    flat = {(str(a), e["version"]): e for a, es in indexed.items() for e in es}
    assert flat.keys() == log_events.keys()
    assert all(flat[k] == log_events[k][2] for k in flat)


@pytest.fixture(autouse=True)
def _no_kafka_noise() -> None:
    """kafka-python retries are logged as errors; they are expected around fencing."""
    assert KafkaError  # imported for readers of this module: errors surface as exceptions


@pytest.mark.parametrize("evicted", [False, True])
def test_the_next_cycle_is_right_while_the_last_one_is_still_being_indexed(
    isolated: Isolated, evicted: bool
) -> None:
    """The index write of cycle N runs during cycle N+1. A resubmitted command id must still
    get its first result (from the cycle in flight), and a case that has left the cache
    (``evicted``, as the LRU does with many cases) must wait for that write before loading,
    not be taken for unknown."""
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    partition = partition_for(case_id, settings.partitions)
    opening = open_case(case_id)
    writer = Writer(settings, group_id=isolated.group_id, partitions=[partition])
    slow_record = writer.index_writer.record

    def record_slowly(*args: Any) -> int:
        time.sleep(1.5)  # still in flight when the next cycle prefetches
        return slow_record(*args)

    writer.index_writer.record = record_slowly  # type: ignore[method-assign]
    try:
        with SupportesClient(settings) as client:

            def cycle_until_answered(envelope: dict[str, Any]) -> None:
                client.send([envelope])
                deadline = time.monotonic() + 30
                while writer.run_once(100) == 0 and time.monotonic() < deadline:
                    pass
                assert writer._index_pending is not None  # this cycle is being indexed
                if evicted:
                    writer.partitions[partition].cache.clear()

            cycle_until_answered(opening)
            cycle_until_answered(opening)  # the same command id again
            cycle_until_answered(command("Acknowledge", case_id, minutes=1))
    finally:
        writer.close()

    results = [v for *_, v in read_topic(settings, "results")]
    assert [r["status"] for r in results] == ["accepted", "accepted", "accepted"], results
    assert results[1] == results[0]
    assert results[2]["version"] == 2
    assert [e["type"] for *_, e in read_topic(settings, "events")] == [
        "CaseOpened",
        "CaseAcknowledged",
    ]


def test_a_link_to_a_root_cause_that_refuses_the_case_is_undone(isolated: Isolated) -> None:
    """Cross-aggregate compensation: the follow-on AttachCase of a link to a root cause that
    does not exist is rejected, and the writer sends UndoRootCauseLink to the case in the same
    transaction: the case falls back to its earlier link, which its root cause did attach."""
    settings = isolated.settings
    case_id, known, missing = (str(uuid.uuid4()) for _ in range(3))
    identify = command("IdentifyRootCause", known, {"title": "Watchdog", "description": "eager"})
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        client.submit([open_case(case_id), identify])
        client.submit([command("LinkRootCause", case_id, {"root_cause_id": known}, minutes=1)])
        client.submit([command("LinkRootCause", case_id, {"root_cause_id": missing}, minutes=2)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            events = [e for *_, e in read_topic(settings, "events")]
            if any(e["type"] == "RootCauseLinkUndone" for e in events):
                break
            time.sleep(0.2)
    case_events = [e for e in events if e["aggregate_id"] == case_id]
    assert [e["type"] for e in case_events] == [
        "CaseOpened",
        "RootCauseLinked",
        "RootCauseLinked",
        "RootCauseLinkUndone",
    ]
    undone = case_events[-1]
    assert undone["actor"] == {"id": "system:supportes", "kind": "system"}
    assert undone["payload"]["root_cause_id"] == missing
    assert undone["payload"]["linked_root_cause_id"] == known
    assert undone["payload"]["refusal"] == "not_found"
    assert [e["type"] for e in events if e["aggregate_id"] == known] == [
        "RootCauseIdentified",
        "CaseAttached",
    ]
    assert not [e for e in events if e["aggregate_id"] == missing]
    results = {v["command_id"]: v for *_, v in read_topic(settings, "results")}
    attach = results[undone["payload"]["attach_command_id"]]
    assert (attach["status"], attach["error"]["code"]) == ("rejected", "not_found")
    assert results[undone["command_id"]]["status"] == "accepted"
