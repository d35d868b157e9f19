"""Two projectors in one group share the events topic's partitions and build exactly the tables
one clean pass builds. Offsets per projection and partition make sharing safe for what one
partition's events decide; the root causes' link counts read cases of other partitions, so
their projection runs one transaction at a time across processes (``Projection.serialized``):
without that, this test fails about two runs in three (``cases_open`` off by one)."""

from __future__ import annotations

import contextlib
import threading
import time

from supportes.consumers.projector import Projector
from supportes.ops.projection_status import wait_until_caught_up
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.integration.test_projector import _from_log, _publish, _reference
from tests.support.history import History, dump_tables


def _run(projector: Projector, stop: threading.Event, seen: list[frozenset[int]]) -> None:
    while not stop.is_set():
        projector.run_once(100)
        seen.append(frozenset(tp.partition for tp in projector.consumer.assignment()))


def test_two_projectors_share_the_partitions_and_build_what_one_builds(
    isolated: Isolated,
) -> None:
    settings = isolated.settings
    history = History()  # few customers, returning: a case's row reads the customer's others
    generator = TrafficGenerator(seed=23, concurrent_cases=25, customers=40, full_mix=True)
    for envelope in generator.commands(900):
        with contextlib.suppress(Exception):  # the generator's deliberate mistakes
            history.submit(envelope)
    half = len(history.events) // 2
    _publish(settings, history.events[:half])
    projectors = [
        Projector(settings, group_id=isolated.projector_group, max_poll_records=40)
        for _ in range(2)
    ]
    seen: list[list[frozenset[int]]] = [[], []]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_run, args=(p, stop, s), daemon=True)
        for p, s in zip(projectors, seen, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while not all(s and s[-1] for s in seen):  # both hold partitions: the group shared
            assert time.monotonic() < deadline, "the two projectors never shared the partitions"
            time.sleep(0.1)
        _publish(settings, history.events[half:])  # the rest arrives while both run
        assert wait_until_caught_up(settings, timeout_s=120)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        for projector in projectors:
            projector.close()

    first, second = seen[0][-1], seen[1][-1]
    assert first
    assert second
    assert not first & second
    assert first | second == set(range(settings.partitions))
    shared, alone = dump_tables(isolated.dsn), _reference(settings, _from_log(settings))
    assert shared.keys() == alone.keys()
    differing = {
        table: (
            [row for row in shared[table] if row not in alone[table]],
            [row for row in alone[table] if row not in shared[table]],
        )
        for table in shared
        if shared[table] != alone[table]
    }
    assert differing == {}
