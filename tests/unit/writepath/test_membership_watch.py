"""The writer's membership watch: an orphaned join is made pending again at once, a member
unstable for too long gets a new consumer, an idle stable member is left alone (no I/O)."""

from __future__ import annotations

from typing import Any, cast

from kafka import KafkaConsumer
from kafka.errors import KafkaConnectionError
from kafka.structs import MemberState

from supportes.consumers.writer_membership import MembershipWatch
from supportes.messaging.clients import GroupMembership

STALLED_AFTER_S = 20.0


class FakeConsumer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.config: dict[str, Any] = {"group_id": "test-writer"}
        self.closed = False
        self.subscribed = False
        self.membership: GroupMembership | None = None

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


def membership(state: str, *, pending: bool, partitions: set[int] | None = None) -> GroupMembership:
    return GroupMembership(
        state=state, join_pending=pending, generation=2, partitions=frozenset(partitions or ())
    )


STABLE_IDLE = membership(MemberState.STABLE, pending=False)
ORPHANED = membership(MemberState.REBALANCING, pending=False, partitions={0, 1, 2, 3, 4, 5})
JOINING = membership(MemberState.REBALANCING, pending=True, partitions={0, 1, 2, 3, 4, 5})


class Harness:
    def __init__(self, *, fail_new: bool = False) -> None:
        self.now = 1000.0
        self.rejoined: list[str] = []
        self.made: list[FakeConsumer] = []
        self.fail_new = fail_new
        self.watch = MembershipWatch(
            self._new,
            self._subscribe,
            stalled_after_s=STALLED_AFTER_S,
            observe=lambda c: cast(FakeConsumer, c).membership,
            rejoin=lambda c: self.rejoined.append(cast(FakeConsumer, c).name),
            clock=lambda: self.now,
        )

    def _new(self) -> KafkaConsumer:
        if self.fail_new:
            raise KafkaConnectionError("no broker")
        fresh = FakeConsumer(f"fresh-{len(self.made)}")
        self.made.append(fresh)
        return cast(KafkaConsumer, fresh)

    @staticmethod
    def _subscribe(consumer: KafkaConsumer) -> None:
        cast(FakeConsumer, consumer).subscribed = True

    def check(self, consumer: FakeConsumer, after_s: float = 0.0) -> FakeConsumer:
        self.now += after_s
        return cast(FakeConsumer, self.watch.check(cast(KafkaConsumer, consumer)))


def test_an_orphaned_join_is_made_pending_again_at_the_next_check() -> None:
    harness, consumer = Harness(), FakeConsumer("old")
    consumer.membership = ORPHANED
    assert harness.check(consumer) is consumer
    assert harness.rejoined == ["old"]
    assert harness.made == []
    assert not consumer.closed


def test_a_join_in_progress_is_left_to_the_poll() -> None:
    harness, consumer = Harness(), FakeConsumer("old")
    consumer.membership = JOINING
    for _ in range(5):
        assert harness.check(consumer, after_s=3) is consumer
    assert harness.rejoined == []
    assert harness.made == []


def test_an_idle_stable_member_is_never_replaced() -> None:
    """More writers than partitions: stable, no partitions, for as long as it lasts."""
    harness, consumer = Harness(), FakeConsumer("old")
    consumer.membership = STABLE_IDLE
    for _ in range(100):
        assert harness.check(consumer, after_s=30) is consumer
    assert harness.rejoined == []
    assert harness.made == []
    assert not consumer.closed


def test_a_member_unstable_past_the_limit_gets_a_new_consumer_once_per_period() -> None:
    harness, consumer = Harness(), FakeConsumer("old")
    consumer.membership = JOINING
    assert harness.check(consumer) is consumer
    assert harness.check(consumer, after_s=STALLED_AFTER_S - 1) is consumer
    fresh = harness.check(consumer, after_s=1)
    assert fresh is harness.made[0]
    assert fresh.subscribed
    assert consumer.closed
    fresh.membership = JOINING
    assert harness.check(fresh, after_s=1) is fresh  # the period starts over
    assert harness.watch.replaced == 1


def test_becoming_stable_restarts_the_period() -> None:
    harness, consumer = Harness(), FakeConsumer("old")
    consumer.membership = JOINING
    harness.check(consumer)
    harness.check(consumer, after_s=STALLED_AFTER_S - 1)
    consumer.membership = membership(MemberState.STABLE, pending=False, partitions={1})
    harness.check(consumer, after_s=0.5)
    consumer.membership = JOINING
    assert harness.check(consumer, after_s=STALLED_AFTER_S - 1) is consumer
    assert harness.made == []


def test_a_new_consumer_that_cannot_be_made_leaves_the_old_one_in_use() -> None:
    harness, consumer = Harness(fail_new=True), FakeConsumer("old")
    consumer.membership = JOINING
    harness.check(consumer)
    assert harness.check(consumer, after_s=STALLED_AFTER_S) is consumer
    assert not consumer.closed
    assert harness.watch.replaced == 0


def test_a_manually_assigned_consumer_is_not_watched() -> None:
    harness, consumer = Harness(), FakeConsumer("old")
    for _ in range(10):
        assert harness.check(consumer, after_s=STALLED_AFTER_S) is consumer
    assert harness.rejoined == []
    assert harness.made == []


def test_orphaned_means_unstable_with_no_join_pending() -> None:
    assert ORPHANED.join_orphaned
    assert not JOINING.join_orphaned
    assert not STABLE_IDLE.join_orphaned
    assert membership(MemberState.UNJOINED, pending=False).join_orphaned
    assert not membership(MemberState.UNJOINED, pending=True).join_orphaned
