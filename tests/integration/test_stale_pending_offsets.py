"""A writer's own stale pending offset commit is replaced, never applied (writer_takeover).

A pending transactional offset commit of a producer becomes the group's offset at that
producer's next commit marker. The writer's remedy commits the group's *materialised* offsets
in a transaction of the same producer: the stale value is overwritten, the committed offset
stays where it was, and ``stable_committed`` answers again."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from supportes.consumers.ownership import Lane, open_lane, stable_committed
from supportes.consumers.writer_takeover import replace_stale_pending_offsets
from supportes.messaging import transactions
from supportes.messaging.clients import Component, group_consumer
from tests.conftest import Isolated


def joined(isolated: Isolated) -> KafkaConsumer:
    consumer = group_consumer(isolated.settings, Component.WRITER, isolated.group_id)
    consumer.subscribe([isolated.topic("commands")])
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "never assigned"
        consumer.poll(timeout_ms=200)
    return consumer


def commit_offsets(lane: Lane, consumer: KafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    lane.begin()
    pending_offsets(lane, consumer, offsets)
    transactions.commit(lane.producer, timeout_s=30)
    lane.in_transaction = False


def pending_offsets(
    lane: Lane, consumer: KafkaConsumer, offsets: dict[TopicPartition, int]
) -> None:
    lane.begin()
    transactions.start_send_offsets(
        lane.producer,
        {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()},
        consumer.group_metadata(),
        timeout_s=30,
    ).wait(30)


def test_a_stale_pending_offset_is_replaced_by_the_committed_one(isolated: Isolated) -> None:
    consumer = joined(isolated)
    lane = open_lane(
        isolated.settings, f"{isolated.group_id}-stale-{uuid.uuid4().hex[:8]}", timeout_s=30
    )
    first, second = (TopicPartition(isolated.topic("commands"), p) for p in (0, 1))
    try:
        commit_offsets(lane, consumer, {first: 5})
        assert stable_committed(consumer, first, timeout_s=10) == 5

        pending_offsets(lane, consumer, {first: 999, second: 777})  # no marker ends these
        with pytest.raises(KafkaError):
            stable_committed(consumer, first, timeout_s=3)

        written = replace_stale_pending_offsets(
            isolated.settings, consumer, lane, isolated.topic("commands")
        )
        assert written[0] == 5
        assert written[1] == 0
        assert stable_committed(consumer, first, timeout_s=10) == 5
        assert stable_committed(consumer, second, timeout_s=10) == 0

        # The hazard itself: without the replacement, the next marker applies a pending value.
        pending_offsets(lane, consumer, {first: 999})
        transactions.commit(lane.producer, timeout_s=30)
        lane.in_transaction = False
        assert stable_committed(consumer, first, timeout_s=10) == 999
    finally:
        lane.close()
        consumer.close()
