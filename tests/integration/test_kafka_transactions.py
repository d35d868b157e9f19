"""The broker gives us what the write path relies on: transactions and group assignment."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError

from supportes.messaging.clients import Component, connection_config, transactional_producer
from tests.conftest import Isolated


def admin_config(isolated: Isolated) -> dict[str, Any]:
    """Bare clients here play the broker's operator: the admin's connection settings."""
    return connection_config(isolated.settings, Component.ADMIN)


def _read_partition(isolated: Isolated, tp: TopicPartition, isolation: str) -> list[bytes]:
    """Every value of one partition up to its end offset, as a consumer with ``isolation`` sees."""
    consumer = KafkaConsumer(
        **admin_config(isolated),
        isolation_level=isolation,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        values: list[bytes] = []
        deadline = time.monotonic() + 20
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
        return values
    finally:
        consumer.close()


def _bare_transactional_producer(isolated: Isolated, name: str) -> KafkaProducer:
    """A plain kafka-python transactional producer (no supportes settings), initialised."""
    producer = KafkaProducer(
        **admin_config(isolated), transactional_id=f"{isolated.group_id}-{name}", acks="all"
    )
    producer.init_transactions()
    return producer


def test_committed_transaction_is_read_and_aborted_one_is_not(isolated: Isolated) -> None:
    topic = isolated.topic("commands")
    tp = TopicPartition(topic, 0)
    producer = _bare_transactional_producer(isolated, "tx")
    try:
        producer.begin_transaction()
        for value in (b"committed-1", b"committed-2"):
            producer.send(topic, value=value, partition=0)
        producer.commit_transaction()
        producer.begin_transaction()
        for value in (b"aborted-1", b"aborted-2"):
            producer.send(topic, value=value, partition=0)
        producer.flush()
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, value=b"committed-3", partition=0)
        producer.commit_transaction()
    finally:
        producer.close()

    committed = _read_partition(isolated, tp, "read_committed")
    uncommitted = _read_partition(isolated, tp, "read_uncommitted")

    assert committed == [b"committed-1", b"committed-2", b"committed-3"]
    # The aborted records really are in the log; only read_committed hides them.
    assert uncommitted == [
        b"committed-1",
        b"committed-2",
        b"aborted-1",
        b"aborted-2",
        b"committed-3",
    ]


def test_two_members_of_a_group_split_the_partitions(isolated: Isolated) -> None:
    topic = isolated.topic("commands")
    partitions = isolated.settings.partitions
    members = [
        KafkaConsumer(
            topic,
            **admin_config(isolated),
            group_id=isolated.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        assignments: list[set[int]] = [set(), set()]
        while time.monotonic() < deadline:
            for member in members:
                member.poll(timeout_ms=200)
            assignments = [{tp.partition for tp in m.assignment()} for m in members]
            if all(assignments) and sum(len(a) for a in assignments) == partitions:
                break
        first, second = assignments
        assert first, f"first member holds no partition: {assignments}"
        assert second, f"second member holds no partition: {assignments}"
        assert first.isdisjoint(second)
        assert first | second == set(range(partitions))
    finally:
        for member in members:
            member.close()


def _bump_inside_the_commit(manager: Any) -> Any:
    """Begin the commit and, before EndTxn can go out, take kafka-python 3.0's KIP-360 path as
    its sender does when a send of the transaction fails with INVALID_PRODUCER_EPOCH."""
    with manager._lock:  # the sender dequeues requests under this lock: nothing goes out between
        result = manager.begin_commit()
        manager.bump_producer_id_and_epoch()
    return result


def test_kafka_python_reports_a_commit_its_epoch_bump_aborted(isolated: Isolated) -> None:
    """Why the writer's producers turn the bump off and the writer checks the epoch: the broker
    aborts the open transaction at the bump, and the pending commit then ends "successfully"
    without an EndTxn."""
    topic = isolated.topic("commands")
    tp = TopicPartition(topic, 0)
    producer = _bare_transactional_producer(isolated, "bump")
    try:
        producer.begin_transaction()
        producer.send(topic, value=b"sent-before-the-bump", partition=0)
        producer.flush()
        manager = producer._transaction_manager
        epoch_before = manager.producer_id_and_epoch.epoch
        result = _bump_inside_the_commit(manager)
        producer._sender.wakeup()
        assert result.wait(timeout_ms=30_000)
        assert result.succeeded  # the commit is reported
        assert manager.producer_id_and_epoch.epoch == epoch_before + 1
    finally:
        producer.close()

    assert _read_partition(isolated, tp, "read_committed") == []  # nothing was committed
    assert _read_partition(isolated, tp, "read_uncommitted") == [b"sent-before-the-bump"]


def test_the_writers_producers_take_a_lost_producer_state_as_fatal(isolated: Isolated) -> None:
    """No bump in the middle of a transaction: the error fails the transaction instead."""
    producer = transactional_producer(isolated.settings, Component.WRITER, f"{isolated.group_id}-0")
    try:
        manager = producer._transaction_manager
        for error in (InvalidProducerEpochError, OutOfOrderSequenceNumberError):
            assert manager.classify_batch_error(error, None) == manager.ERROR_CLASS_FATAL
    finally:
        producer.close()
