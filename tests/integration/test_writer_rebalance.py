"""Several writer processes' worth of writers in one group, partitions moving under load: a
third writer joins and one leaves while commands flow, and the log shows every partition with
one owner at a time (no two writers' transactions interleave on it), nothing lost or doubled.

Ownership is read back from the log itself: each transaction's first result on a partition
carries the writer's mark (``supportes-writer``: transactional id, group generation, producer
id and epoch; :func:`supportes.consumers.records.writer_of`)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack

from kafka import TopicPartition

from supportes.client import SupportesClient
from supportes.consumers.records import WriterMark, is_replayed, writer_of
from supportes.messaging.clients import Component, committed_reader
from supportes.messaging.log_reader import read_to_end
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.support.log import read_topic, running_writer

COMMANDS = 3000
CHUNK = 100


def _marks(settings: Settings) -> dict[int, list[tuple[int, WriterMark | None, bool]]]:
    """Per results partition, in offset order: (offset, the writer's mark if any, replayed)."""
    reader = committed_reader(settings, Component.ADMIN)
    found: dict[int, list[tuple[int, WriterMark | None, bool]]] = defaultdict(list)
    try:
        for partition in range(settings.partitions):
            tp = TopicPartition(settings.topic("results"), partition)
            for batch in read_to_end(reader, tp, 0):
                for record in batch:
                    headers = list(record.headers or ())
                    found[partition].append(
                        (record.offset, writer_of(headers), is_replayed(headers))
                    )
    finally:
        reader.close()
    return found


def owner_problems(marks: dict[int, list[tuple[int, WriterMark | None, bool]]]) -> list[str]:
    """What breaks "one owner at a time" per partition: a generation going back (an older
    owner's transaction after a newer one's), or two writers in one generation."""
    problems = []
    for partition, records in sorted(marks.items()):
        newest = -1
        owner_of: dict[int, str] = {}
        for offset, mark, _ in records:
            if mark is None:
                continue
            if mark.generation < newest:
                problems.append(
                    f"p{partition}@{offset}: {mark.transactional_id} of generation "
                    f"{mark.generation} after generation {newest}"
                )
            newest = max(newest, mark.generation)
            first = owner_of.setdefault(mark.generation, mark.transactional_id)
            if first != mark.transactional_id:
                problems.append(
                    f"p{partition}@{offset}: {mark.transactional_id} and {first} both wrote "
                    f"in generation {mark.generation}"
                )
    return problems


def test_owner_problems_are_found() -> None:
    """The check itself can fail: an older generation after a newer one, two writers in one."""
    a, b = WriterMark("g-0", 3, 1, 0), WriterMark("g-1", 2, 2, 0)
    assert owner_problems({0: [(0, a, False), (5, b, False)]}) == [
        "p0@5: g-1 of generation 2 after generation 3"
    ]
    c = WriterMark("g-1", 3, 2, 0)
    assert owner_problems({1: [(0, a, False), (1, None, False), (2, c, False)]}) == [
        "p1@2: g-1 and g-0 both wrote in generation 3"
    ]
    assert owner_problems({0: [(0, b, False), (3, a, False)]}) == []


def _submit_in_chunks(
    settings: Settings, commands: list[dict[str, object]], results: list[dict[str, object]]
) -> None:
    with SupportesClient(settings) as client:
        for at in range(0, len(commands), CHUNK):
            results.extend(client.submit(commands[at : at + CHUNK], timeout_s=180))


def _wait_for(condition: threading.Event, results: list[dict[str, object]], count: int) -> None:
    deadline = time.monotonic() + 120
    while len(results) < count and not condition.is_set():
        assert time.monotonic() < deadline, f"only {len(results)} results after 120 s"
        time.sleep(0.05)


def test_a_writer_joins_and_one_leaves_under_load(isolated: Isolated) -> None:
    settings = isolated.settings
    commands = list(TrafficGenerator(seed=17, concurrent_cases=60).commands(COMMANDS))
    results: list[dict[str, object]] = []
    done = threading.Event()

    def submit() -> None:
        try:
            _submit_in_chunks(settings, commands, results)
        finally:
            done.set()

    with ExitStack() as writers, ExitStack() as leaving:
        leaving.enter_context(running_writer(settings, isolated.group_id, instance="0"))
        writers.enter_context(running_writer(settings, isolated.group_id, instance="1"))
        client = threading.Thread(target=submit, daemon=True)
        client.start()
        _wait_for(done, results, COMMANDS // 4)
        writers.enter_context(running_writer(settings, isolated.group_id, instance="2"))
        _wait_for(done, results, COMMANDS // 2)  # the third writer took partitions meanwhile
        leaving.close()  # writer 0 stops and leaves the group under load
        client.join(timeout=300)
        assert done.is_set()

    assert len(results) == COMMANDS
    assert [r["command_id"] for r in results] == [c["command_id"] for c in commands]
    first_answers = Counter(
        v["command_id"]
        for (partition, offset, _, v), replayed in _with_replayed(settings)
        if not replayed
    )
    assert set(first_answers.values()) == {1}
    assert len(first_answers) == COMMANDS + _follow_ons(settings)
    versions: dict[str, list[int]] = defaultdict(list)
    for *_, envelope in read_topic(settings, "events"):
        versions[envelope["aggregate_id"]].append(envelope["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())

    marks = _marks(settings)
    assert owner_problems(marks) == []
    owners = {
        p: {m.transactional_id for _, m, _ in records if m is not None}
        for p, records in marks.items()
    }
    moved = [p for p, tids in owners.items() if len(tids) > 1]
    assert moved, f"no partition changed hands: {owners}"
    assert any(f"{isolated.group_id}-2" in tids for tids in owners.values()), (
        f"the joining writer owned nothing: {owners}"
    )


def _with_replayed(
    settings: Settings,
) -> Iterator[tuple[tuple[int, int, bytes | None, object], bool]]:
    marks = _marks(settings)
    replayed = {(p, offset): r for p, records in marks.items() for offset, _, r in records}
    for row in read_topic(settings, "results"):
        yield row, replayed[(row[0], row[1])]


def _follow_ons(settings: Settings) -> int:
    """Commands the writers themselves sent (follow-ons and compensations)."""
    return sum(
        1
        for *_, v in read_topic(settings, "commands")
        if isinstance(v, dict) and v.get("actor", {}).get("kind") == "system"
    )
