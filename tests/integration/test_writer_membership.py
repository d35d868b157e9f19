"""The writer's group membership against the real broker: one generation at start, and a join
kafka-python 3.0.12 orphans (a leader's rejoin on a metadata change, its JoinGroup answered
between two polls) finished by the membership watch instead of the member expiring."""

from __future__ import annotations

import time

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import MemberState

from supportes.consumers.writer_membership import MembershipWatch
from supportes.messaging.clients import Component, group_consumer, subscribe_known
from supportes.stack.kafka_admin import admin_client
from tests.conftest import Isolated
from tests.support.log import running_writer


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.events: list[tuple[str, list[int]]] = []

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.events.append(("revoked", sorted(tp.partition for tp in revoked)))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.events.append(("assigned", sorted(tp.partition for tp in assigned)))


def _stable_with(consumer: KafkaConsumer, count: int) -> bool:
    return bool(
        consumer.group_metadata().state == MemberState.STABLE
        and len(consumer.assignment()) == count
    )


def test_a_writer_takes_its_partitions_in_one_generation(isolated: Isolated) -> None:
    """Without the metadata refresh of subscribe_known, the first assignment is made from an
    empty snapshot and the leader rebalances again once the next metadata update lands."""
    settings = isolated.settings
    with running_writer(settings, isolated.group_id) as writer:
        assert writer.ready.wait(60)
        first = writer.consumer.group_metadata()
        deadline = time.monotonic() + 7  # beyond metadata_max_age_ms (5 s): a refresh landed
        while time.monotonic() < deadline:
            assert writer.consumer.group_metadata().generation_id == first.generation_id
            time.sleep(0.2)
        assert _stable_with(writer.consumer, settings.partitions)
        assert sorted(writer.partitions) == list(range(settings.partitions))


def test_a_join_orphaned_by_a_metadata_change_is_finished_by_the_watch(
    isolated: Isolated,
) -> None:
    """More partitions make the leader rejoin with ``rejoin_needed`` False. Polling for 1 ms
    every 250 ms lets the JoinGroup response land between polls, which orphans the join in
    kafka-python 3.0.12 (the member would stay rebalancing until the broker expired it); the
    writer's polls (100 ms, back to back) then finish the join the watch made pending again.
    (Polls shorter than a join and far apart would drop every answered join and send another:
    kafka-python takes a join's result up only if a poll is waiting when it lands.)"""
    settings = isolated.settings
    topic = isolated.topic("commands")
    listener = Recorder()
    consumer = group_consumer(settings, Component.WRITER, isolated.group_id)
    watch = MembershipWatch(
        lambda: group_consumer(settings, Component.WRITER, isolated.group_id),
        lambda fresh: subscribe_known(fresh, topic, listener=listener, timeout_s=10),
        stalled_after_s=600,  # the safety net out of the way: the rejoin alone must do it
    )
    try:
        subscribe_known(consumer, topic, listener=listener, timeout_s=10)
        deadline = time.monotonic() + 30
        while not _stable_with(consumer, settings.partitions) and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
        assert _stable_with(consumer, settings.partitions)
        generation = consumer.group_metadata().generation_id
        listener.events.clear()

        with admin_client(settings) as admin:
            admin.create_partitions({topic: settings.partitions + 1})

        deadline = time.monotonic() + 30  # metadata_max_age_ms 5 s, then one rejoin
        while time.monotonic() < deadline:
            orphaning = watch.rejoins == 0
            consumer.poll(timeout_ms=1 if orphaning else 100)
            consumer = watch.check(consumer)
            if _stable_with(consumer, settings.partitions + 1):
                break
            if orphaning:
                time.sleep(0.25)
        assert watch.rejoins >= 1, "the join was not orphaned (kafka-python fixed it?)"
        assert watch.replaced == 0
        assert _stable_with(consumer, settings.partitions + 1), consumer.group_metadata()
        assert generation < consumer.group_metadata().generation_id <= generation + 3
        assert listener.events[-1] == ("assigned", list(range(settings.partitions + 1)))
    finally:
        consumer.close(autocommit=False)
