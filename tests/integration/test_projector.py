"""The projector against the real broker and server: exactly once through crashes, rebuilds that
readers never see half-done, parking of events a projection cannot apply, status and wait."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import psycopg2.extensions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition

import supportes.consumers.projector as projector_module
from supportes.bench.scratch import scratch_database
from supportes.consumers.projector import Projector
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.errors import UsageError
from supportes.eventstore.envelopes import decode_event
from supportes.messaging.clients import Component, committed_reader, transactional_producer
from supportes.messaging.log_reader import read_to_end
from supportes.ops.parked import retry_parked
from supportes.ops.projection_status import projection_status, wait_until_caught_up
from supportes.ops.rebuild import rebuild
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext
from supportes.projections.timeline import TimelineProjection
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from supportes.stack.kafka_acls import drop_acls
from supportes.stack.kafka_admin import admin_client, ensure_topics, topic_specs
from tests.conftest import Isolated
from tests.support.history import History, apply_all, dump_tables
from tests.support.log import read_topic

SUPPORTES = str(Path(sys.executable).parent / "supportes")


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing after it runs, the transaction is lost."""


def _history(seed: int, commands: int) -> History:
    history = History()
    for envelope in TrafficGenerator(seed=seed, concurrent_cases=25, root_causes=4).commands(
        commands
    ):
        with contextlib.suppress(Exception):  # the generator's deliberate mistakes
            history.submit(envelope)
    return history


def _publish(settings: Settings, events: Sequence[LoggedEvent], per_txn: int = 40) -> None:
    """Put the events on the events topic in transactions, on their aggregates' partitions."""
    producer = transactional_producer(
        settings, Component.ADMIN, f"test-publisher-{settings.topic_prefix}"
    )
    producer.init_transactions()
    try:
        for start in range(0, len(events), per_txn):
            producer.begin_transaction()
            for event in events[start : start + per_txn]:
                producer.send(
                    settings.topic("events"),
                    key=str(event.aggregate_id).encode(),
                    value=_canonical(event.envelope),
                    partition=event.partition,
                )
            producer.commit_transaction()
    finally:
        producer.close()


def _canonical(envelope: Any) -> bytes:
    from supportes.aggregates import canonical_json

    return canonical_json(dict(envelope))


def _from_log(settings: Settings) -> list[LoggedEvent]:
    """The events as the projector sees them: decoded, with their real partitions and offsets."""
    return [
        LoggedEvent(decode_event(_canonical(value)), partition, offset)
        for partition, offset, _key, value in read_topic(settings, "events")
    ]


def _reference(settings: Settings, events: Sequence[LoggedEvent]) -> dict[str, list[Any]]:
    """Tables of one clean pass over ``events`` in a database of their own."""
    with scratch_database(settings) as dsn:
        migrate_database(dsn)
        apply_all(dsn, events, batch_size=len(events) or 1)
        return dump_tables(dsn)


def _drain(projector: Projector, settings: Settings, timeout_s: float = 120) -> None:
    """Run the projector until its position reaches the end of every partition."""
    deadline = time.monotonic() + timeout_s
    tps = [TopicPartition(settings.topic("events"), p) for p in range(settings.partitions)]
    while time.monotonic() < deadline:
        projector.run_once(100)
        assigned = projector.consumer.assignment()
        if len(assigned) == len(tps) and not projector._to_seek:
            ends = projector.consumer.end_offsets(tps)
            if all((projector.consumer.position(tp) or 0) >= ends[tp] for tp in tps):
                return
    raise AssertionError("projector did not reach the end of the log")


def _abandon(projector: Projector) -> None:
    """What a crash leaves: no commit of anything in flight, connections dropped."""
    for conn in projector.connections:
        conn.close()
    projector.opener.close()  # the key store's connections go with the process too
    projector.consumer.close(autocommit=False)


@contextlib.contextmanager
def _fresh_topics(stack: Settings, dsn: str) -> Iterator[Settings]:
    scratch = stack.model_copy(
        update={"topic_prefix": f"test-{random.getrandbits(48):012x}", "pg_dsn": dsn}
    )
    ensure_topics(scratch)
    try:
        yield scratch
    finally:
        with admin_client(scratch) as admin:
            admin.delete_topics([s.name for s in topic_specs(scratch)], timeout_ms=10_000)
            drop_acls(scratch, admin)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    batch_size=st.sampled_from([1, 3, 25, 400]),
    crashes=st.lists(
        st.tuples(st.sampled_from(["inside", "between"]), st.integers(1, 12)), max_size=4
    ),
)
def test_crashes_anywhere_still_give_one_clean_pass(
    stack: Settings, seed: int, batch_size: int, crashes: list[tuple[str, int]]
) -> None:
    history = _history(seed, 220)
    with scratch_database(stack) as dsn, _fresh_topics(stack, dsn) as scratch:
        migrate_database(dsn)
        _publish(scratch, history.events)
        expected = _reference(scratch, _from_log(scratch))
        group = f"{scratch.topic_prefix}-projector"
        for where, after_batches in crashes:
            projector = Projector(scratch, group_id=group, max_poll_records=batch_size)
            _arm_crash(projector, where, after_batches)
            try:
                _drain(projector, scratch, timeout_s=60)
            except SimulatedCrash:
                _abandon(projector)
            else:
                projector.close()
        final = Projector(scratch, group_id=group, max_poll_records=batch_size)
        try:
            _drain(final, scratch)
        finally:
            final.close()
        assert dump_tables(dsn) == expected
        report = rebuild(scratch)
        assert report.events == len(history.events)
        assert dump_tables(dsn) == expected


def _arm_crash(projector: Projector, where: str, after_batches: int) -> None:
    """Make the projector die in its ``after_batches``-th lane transaction: ``inside`` it
    (written, not committed; the other lane's transaction of that batch may have committed)
    or ``between`` a batch's commits and the Kafka offset commit."""
    count = 0
    lock = threading.Lock()
    if where == "inside":
        original = projector._apply_lane

        def crash_inside(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            with lock:  # the lanes run on their own threads
                count += 1
                crash = count == after_batches
            if crash:
                original(*args, **{**kwargs, "commit": False})
                raise SimulatedCrash
            return original(*args, **kwargs)

        projector._apply_lane = crash_inside  # type: ignore[method-assign]
        return
    original_commit = projector._commit_kafka_offsets

    def crash_between(*args: Any) -> None:
        nonlocal count
        count += 1
        if count == after_batches:
            raise SimulatedCrash  # committed in PostgreSQL, not yet in Kafka
        original_commit(*args)

    projector._commit_kafka_offsets = crash_between  # type: ignore[method-assign]


def _projector_process(isolated: Isolated, log_file: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, **isolated.env(), "SUPPORTES_GROUP_SESSION_TIMEOUT_MS": "6000"}
    return subprocess.Popen(
        [SUPPORTES, "serve", "--projector"], env=env, stdout=log_file, stderr=subprocess.STDOUT
    )


def test_kill_9_of_the_projector_process_changes_nothing(
    isolated: Isolated, tmp_path: Path
) -> None:
    settings = isolated.settings
    history = _history(21, 1500)
    feeder = threading.Thread(target=_publish, args=(settings, history.events, 15))
    feeder.start()
    rng = random.Random(5)
    log_path = tmp_path / "projector.log"
    with log_path.open("ab") as log_file:
        for _ in range(5):
            before = log_path.read_text(errors="replace").count('"batch projected"')
            process = _projector_process(isolated, log_file)
            deadline = time.monotonic() + 60
            while (
                log_path.read_text(errors="replace").count('"batch projected"') == before
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            time.sleep(rng.uniform(0, 0.4))
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        feeder.join(120)
        final = _projector_process(isolated, log_file)
        try:
            assert wait_until_caught_up(settings, timeout_s=120)
        finally:
            final.send_signal(signal.SIGTERM)
            final.wait(60)
    assert dump_tables(isolated.dsn) == _reference(settings, _from_log(settings))


@pytest.mark.parametrize("workers", [1, 2])
def test_readers_never_see_a_partial_table_during_rebuild(isolated: Isolated, workers: int) -> None:
    settings = isolated.settings
    history = _history(8, 900)
    _publish(settings, history.events)
    live = Projector(settings, group_id=isolated.projector_group)
    _drain(live, settings)
    full_cases = _count(isolated.dsn, "case_view")
    full_timeline = _count(isolated.dsn, "case_timeline")
    assert full_cases > 0
    assert full_timeline > full_cases

    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        conn = connect(isolated.dsn)
        conn.autocommit = True
        try:
            while not stop.is_set():
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM proj.case_view")
                    cases = cur.fetchone()[0]  # type: ignore[index]
                    cur.execute("SELECT count(*) FROM proj.case_timeline")
                    timeline = cur.fetchone()[0]  # type: ignore[index]
                seen.append((cases, timeline))
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    live_stop = threading.Event()
    live_thread = threading.Thread(target=lambda: _keep_running(live, live_stop))
    live_thread.start()
    try:
        report = rebuild(settings, workers=workers)
    finally:
        time.sleep(0.3)
        stop.set()
        live_stop.set()
        for thread in [*readers, live_thread]:
            thread.join(30)
        live.close()
    assert not errors, errors
    assert report.events == len(history.events)
    assert len(seen) > 10
    assert set(seen) == {(full_cases, full_timeline)}


def test_a_parallel_rebuild_gives_the_tables_of_a_single_process_one(isolated: Isolated) -> None:
    settings = isolated.settings
    history = _history(13, 1200)
    _publish(settings, history.events)
    single = rebuild(settings, workers=1)
    one = dump_tables(isolated.dsn)
    assert single.events == len(history.events)
    parallel = rebuild(settings, workers=3)
    assert parallel.events == len(history.events)
    assert dump_tables(isolated.dsn) == one == _reference(settings, _from_log(settings))


def test_a_rebuild_refuses_more_workers_than_partitions(isolated: Isolated) -> None:
    with pytest.raises(UsageError, match=r"--workers 7: from 1 to the number of partitions \(6\)"):
        rebuild(isolated.settings, workers=7)


def _keep_running(projector: Projector, stop: threading.Event) -> None:
    while not stop.is_set():
        projector.run_once(50)


def _count(dsn: str, table: str) -> int:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM proj.{table}")
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


class FlakyProjection(Projection):
    """Fails on events carrying a poisoned subject, as a bug would."""

    name: ClassVar[str] = "flaky"
    tables: ClassVar[tuple[str, ...]] = ("flaky_seen",)
    handles: ClassVar[frozenset[str]] = frozenset({"CaseOpened", "CaseAcknowledged"})
    broken: ClassVar[bool] = True

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        for event in events:
            if self.broken and event.payload.get("subject") == "poison":
                raise ValueError("cannot handle a poisoned subject")
            cur.execute(
                "INSERT INTO flaky_seen (case_id, version) VALUES (%s, %s)",
                (str(event.aggregate_id), event.version),
            )


def test_a_failing_event_parks_its_aggregate_and_retry_applies_it(
    isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated.settings
    conn = connect(isolated.dsn)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE proj.flaky_seen (case_id uuid, version int)")
    conn.commit()
    conn.close()
    history = History()
    cases = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 4)]
    for n, case_id in enumerate(cases):
        subject = "poison" if n == 1 else "fine"
        history.run(
            "OpenCase",
            case_id,
            {"customer_id": "customer:1", "channel": "email", "subject": subject,
             "description": "d"},
            actor="customer:1",
        )  # fmt: skip
        history.run("Acknowledge", case_id, {}, minutes=1)
    _publish(settings, history.events)
    # The batch fails in one piece, is rolled back and applied again projection by projection:
    # the timeline (applied before the failure in the first attempt) holds every event once.
    projections = [TimelineProjection(), FlakyProjection()]
    projector = Projector(settings, group_id=isolated.projector_group, projections=projections)
    _drain(projector, settings)
    projector.close()

    timeline = _rows(isolated.dsn, "SELECT case_id::text, version FROM proj.case_timeline")
    assert sorted(timeline) == sorted((case_id, v) for case_id in cases for v in (1, 2))
    seen = _rows(isolated.dsn, "SELECT case_id::text, version FROM proj.flaky_seen")
    assert sorted(seen) == sorted([(cases[0], 1), (cases[0], 2), (cases[2], 1), (cases[2], 2)])
    parked = _rows(
        isolated.dsn, "SELECT aggregate_id::text, version, error FROM proj.parked_events"
    )
    assert [(a, v) for a, v, _ in sorted(parked)] == [(cases[1], 1), (cases[1], 2)]
    assert "poisoned subject" in sorted(parked)[0][2]

    monkeypatch.setattr("supportes.ops.parked.all_projections", lambda: [FlakyProjection()])
    monkeypatch.setattr(FlakyProjection, "broken", False)
    outcome = retry_parked(settings, ["flaky"])
    assert (outcome.retried, outcome.applied, outcome.still_parked) == (2, 2, 0)
    seen = _rows(isolated.dsn, "SELECT case_id::text, version FROM proj.flaky_seen")
    assert len(seen) == 6
    assert _rows(isolated.dsn, "SELECT count(*) FROM proj.parked_events") == [(0,)]


def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_status_shows_lag_and_wait_reaches_the_end(isolated: Isolated) -> None:
    settings = isolated.settings
    history = _history(4, 200)
    _publish(settings, history.events)
    behind = projection_status(settings)
    assert sum(r.lag for r in behind) > 0
    assert not wait_until_caught_up(settings, timeout_s=0.5)
    live = Projector(settings, group_id=isolated.projector_group)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: _keep_running(live, stop))
    thread.start()
    try:
        assert wait_until_caught_up(settings, timeout_s=60)
        time.sleep(1.0)  # an idle poll stores positions past the last commit markers
        assert all(r.lag == 0 for r in projection_status(settings))
    finally:
        stop.set()
        thread.join(30)
        live.close()


def test_unreadable_events_are_dead_lettered_before_the_offsets_passing_them(
    isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Garbage on the events topic goes to the dead-letter topic with its reason and never
    holds its partition up. The dead letters are acknowledged before the batch that skips them
    commits: here the dead-letter producer would linger 60 s, and right after the batch commits
    the projector "crashes" (its producer closed at once, dropping what it has not sent)."""
    settings = isolated.settings
    real_producer = projector_module.plain_producer
    monkeypatch.setattr(
        projector_module,
        "plain_producer",
        lambda s, component, **extra: real_producer(s, component, **{**extra, "linger_ms": 60_000}),
    )
    case_id = "00000000-0000-4000-8000-0000000000a1"
    history = History()
    history.run(
        "OpenCase",
        case_id,
        {"customer_id": "customer:1", "channel": "email", "subject": "s", "description": "d"},
        actor="customer:1",
    )
    history.run("Acknowledge", case_id, {}, minutes=1)
    first, second = history.events
    garbage = [b"not json", b'{"type": "NoSuchEvent"}', None]  # None: a tombstone
    topic = settings.topic("events")
    producer = transactional_producer(
        settings, Component.ADMIN, f"test-garbage-{settings.topic_prefix}"
    )
    producer.init_transactions()
    try:
        producer.begin_transaction()
        for value in [_canonical(first.envelope), *garbage, _canonical(second.envelope)]:
            producer.send(topic, key=case_id.encode(), value=value, partition=first.partition)
        producer.commit_transaction()
    finally:
        producer.close()

    projector = Projector(
        settings, group_id=isolated.projector_group, projections=[TimelineProjection()]
    )
    _drain(projector, settings)  # reaching the end: the partition was never held up
    assert projector._dead_letters is not None
    projector._dead_letters._sender.force_close()  # the crash: what is unsent is dropped
    projector._dead_letters.close(timeout=5)
    _abandon(projector)

    reader = committed_reader(settings, Component.ADMIN)
    try:
        tp = TopicPartition(settings.topic("dead-letters"), first.partition)
        dead = [record for batch in read_to_end(reader, tp, 0) for record in batch]
    finally:
        reader.close()
    assert [record.value for record in dead] == [b"not json", b'{"type": "NoSuchEvent"}', None]
    assert [record.key for record in dead] == [case_id.encode()] * 3
    headers = [dict(record.headers) for record in dead]
    assert headers[0]["reason"].startswith(b"not JSON")
    assert headers[1]["reason"].startswith(b"envelope lacks")
    assert headers[2]["reason"] == b"empty record"
    assert [h["source.offset"] for h in headers] == [b"1", b"2", b"3"]
    assert {h["source.topic"] for h in headers} == {topic.encode()}
    timeline = _rows(isolated.dsn, "SELECT case_id::text, version FROM proj.case_timeline")
    assert sorted(timeline) == [(case_id, 1), (case_id, 2)]
