"""Factories for kafka-python clients configured the way supportes needs them."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import MemberState

from supportes.errors import ConfigError
from supportes.messaging import transactions
from supportes.messaging.security import Component, security_config
from supportes.settings import Settings

__all__ = [
    "CLIENT_LINGER_MS",
    "READER_FETCH_BYTES",
    "TRANSACTION_BATCH_BYTES",
    "TRANSACTION_LINGER_MS",
    "Component",
    "GroupMembership",
    "broker_connected",
    "committed_reader",
    "connection_config",
    "group_consumer",
    "group_membership",
    "missing_topic",
    "offsets_follow_a_moved_leader",
    "plain_producer",
    "request_rejoin",
    "subscribe_known",
    "transactional_producer",
    "wait_for_topic",
]

TRANSACTION_LINGER_MS = 1000
"""Linger of transactional producers. ``commit_transaction`` flushes at once, so linger adds no
latency to a transaction; a long one keeps the sender thread from building and sending small
requests (and competing for the GIL) while the writer is still deciding the batch. Writer
throughput, alternated runs: 20 ms 4,446-4,929 cmd/s (send 30-33 us per record), 1,000 ms
5,016-5,429 (25-28 us)."""
CLIENT_LINGER_MS = 5
"""Linger of producers submitting commands: Kafka 4.0's default (KIP-1030). A client sending
500 commands/s one at a time with 1 ms made a produce request per command; kafka-python's
network thread then used 28 % of a core. With 5 ms, 25-30 % less client CPU (10 vs 13-14 s per
latency benchmark) and at most 5 ms more before a command is on the log; ``send`` with
``flush`` (``submit``, the CLI) sends at once either way."""
TRANSACTION_BATCH_BYTES = 1024 * 1024
"""Batch size of transactional producers: a poll batch of 2,000 commands fits in one or two."""


def connection_config(settings: Settings, component: Component) -> dict[str, Any]:
    """Bootstrap servers and the security settings authenticating as ``component``: the base of
    every kafka-python client supportes makes (pass it to a bare KafkaConsumer/KafkaProducer)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        **security_config(settings, component),
    }


def transactional_producer(
    settings: Settings, component: Component, transactional_id: str, **extra: Any
) -> KafkaProducer:
    """An idempotent, transactional producer (acks=all); call ``init_transactions`` next."""
    config: dict[str, Any] = {
        **connection_config(settings, component),
        "transactional_id": transactional_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": TRANSACTION_LINGER_MS,
        "batch_size": TRANSACTION_BATCH_BYTES,
        "max_block_ms": 30_000,
        "request_timeout_ms": 30_000,
        "transaction_timeout_ms": 60_000,
        # kafka-python sleeps retry_backoff_ms when the broker answers CONCURRENT_TRANSACTIONS
        # right after a commit (it is still writing markers); the default 100 ms is a stall.
        "retry_backoff_ms": 10,
        "client_id": transactional_id,
    }
    config.update(extra)
    producer = KafkaProducer(**config)
    transactions.no_epoch_bump_inside_a_transaction(producer)
    transactions.no_lost_request_when_the_coordinator_dies(producer)
    return producer


def plain_producer(settings: Settings, component: Component, **extra: Any) -> KafkaProducer:
    """An idempotent, non-transactional producer (acks=all) for clients submitting commands."""
    config: dict[str, Any] = {
        **connection_config(settings, component),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": CLIENT_LINGER_MS,
        "client_id": "supportes-client",
    }
    config.update(extra)
    return KafkaProducer(**config)


READER_FETCH_BYTES = 1024 * 1024


def committed_reader(settings: Settings, component: Component, **extra: Any) -> KafkaConsumer:
    """A group-less read_committed consumer for manual assignment (log reads, catch-up)."""
    config: dict[str, Any] = {
        **connection_config(settings, component),
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 2000,
        "fetch_max_bytes": 32 * 1024 * 1024,
        # Most of these reads take one partition at a time (catch-up, case history, audit):
        # fetches above 1 MiB leave kafka-python waiting on the broker (1M events, 626 B:
        # 20.4 us a record at 8 MiB or 2 MiB, 7.3 us at 1 MiB; six partitions at once 9.5 ->
        # 7.3 us). A batch larger than this still comes whole (KIP-74).
        "max_partition_fetch_bytes": READER_FETCH_BYTES,
        "client_id": "supportes-reader",
    }
    config.update(extra)
    return offsets_follow_a_moved_leader(KafkaConsumer(**config))


def group_consumer(
    settings: Settings, component: Component, group_id: str | None, **extra: Any
) -> KafkaConsumer:
    """A read_committed consumer with manual commits, in ``group_id`` (None: no group), with
    the configured session timeout."""
    config: dict[str, Any] = {
        **connection_config(settings, component),
        "group_id": group_id,
        "client_id": f"{group_id or 'supportes'}-consumer",
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.group_session_timeout_ms,
        "heartbeat_interval_ms": max(1000, settings.group_session_timeout_ms // 4),
        # A group formed before a new topic's metadata reached this member assigns nothing;
        # kafka-python rejoins only after its next metadata refresh (5 minutes by default).
        "metadata_max_age_ms": 5_000,
    }
    config.update(extra)
    return offsets_follow_a_moved_leader(KafkaConsumer(**config))


def offsets_follow_a_moved_leader(consumer: KafkaConsumer) -> KafkaConsumer:
    """Make ``consumer``'s offset look-ups (``end_offsets``, ``beginning_offsets``,
    ``offsets_for_times``) refresh the metadata when a partition's leader answers that it is not
    the leader any more, as the Java client does; returns ``consumer``.

    kafka-python 3.0.12 (kafka/consumer/fetcher.py ``_fetch_offsets_by_times_async``) retries
    the partitions of a ListOffsets answer with NOT_LEADER_OR_FOLLOWER at once, to the leader
    its metadata names, without asking for new metadata: against a broker that is alive but no
    longer the leader (a node paused past its session, or killed and started again: its
    partitions moved while this consumer's metadata was taken) every look-up spins until its
    timeout (``KafkaTimeoutError: Failed to get offsets by timestamps in 30000 ms``) until the
    periodic refresh, ``metadata_max_age_ms`` (5 minutes) after the last one. The fault campaign
    saw a writer fail to take a partition over for 3.5 minutes so (its readers' metadata dated
    from the paused node's pause): 52 commands unanswered. Here the partitions to retry trigger
    a metadata refresh that the retry waits for (bounded by the look-up's own timeout)."""
    fetcher = getattr(consumer, "_fetcher", None)
    send = getattr(fetcher, "_send_list_offsets_requests", None)
    manager = getattr(fetcher, "_manager", None)
    if fetcher is None or send is None or manager is None or not hasattr(manager, "wait_for"):
        return consumer
    wait_ms = int(consumer.config["request_timeout_ms"])

    async def send_then_refresh(timestamps: Any) -> Any:
        fetched, retry = await send(timestamps)
        if retry:
            update = manager.cluster.request_update()
            with contextlib.suppress(KafkaError):  # the look-up's own timer still bounds it
                await manager.wait_for(update, wait_ms)
        return fetched, retry

    fetcher._send_list_offsets_requests = send_then_refresh  # kafka-python internals, above
    return consumer


def wait_for_topic(consumer: KafkaConsumer, topic: str, *, timeout_s: float) -> set[int]:
    """The partitions of ``topic`` once ``consumer``'s metadata knows them.

    Call before ``subscribe``: a member that joins its group before the topic's metadata arrived
    is assigned nothing, and a broker restart during that join was seen to leave it so for
    minutes. Raises ConfigError naming the topic when it has no partitions within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        partitions: set[int] = set(consumer.partitions_for_topic(topic) or ())
        if partitions:
            return partitions
        if time.monotonic() >= deadline:
            raise missing_topic(topic, timeout_s)
        time.sleep(0.2)


def missing_topic(topic: str, timeout_s: float) -> ConfigError:
    """The error of a topic whose partitions did not show within ``timeout_s``."""
    return ConfigError(
        f"topic {topic} has no partitions after {timeout_s:g}s (is SUPPORTES_TOPIC_PREFIX "
        "right? `supportes stack up` creates the topics)"
    )


def subscribe_known(
    consumer: KafkaConsumer,
    topic: str,
    *,
    listener: ConsumerRebalanceListener,
    timeout_s: float,
) -> set[int]:
    """Subscribe ``consumer`` to ``topic`` once its partitions are known (:func:`wait_for_topic`),
    then refresh the metadata once more, before the first poll; returns the partitions.

    kafka-python 3.0.12 records the group's metadata snapshot only from metadata updates that
    arrive *after* ``subscribe`` (kafka/coordinator/consumer.py ``_handle_metadata_update``);
    without the refresh here the first join is assigned from an empty snapshot and the leader
    rejoins as soon as the next update lands (a second rebalance at every start, seen 10 times
    in 10). That rejoin is the one kafka-python can orphan (:func:`group_membership`).
    """
    partitions = wait_for_topic(consumer, topic, timeout_s=timeout_s)
    consumer.subscribe([topic], listener=listener)
    consumer.topics()  # a blocking metadata fetch: the listener records the snapshot now
    return partitions


@dataclass(frozen=True)
class GroupMembership:
    """What a group consumer's coordinator says of its membership, between two polls."""

    state: str
    """kafka-python's MemberState: ``<unjoined>``, ``<rebalancing>`` or ``<stable>``."""
    join_pending: bool
    """The next poll drives a join (kafka-python's ``need_rejoin()``)."""
    generation: int
    partitions: frozenset[int]

    @property
    def stable(self) -> bool:
        return bool(self.state == MemberState.STABLE)

    @property
    def join_orphaned(self) -> bool:
        """Not stable, yet no poll will ever finish the join (see :func:`group_membership`)."""
        return not self.stable and not self.join_pending


def broker_connected(consumer: KafkaConsumer) -> bool | None:
    """Whether ``consumer`` holds an open connection to a broker of its cluster metadata; None
    when kafka-python does not expose it. ``poll`` returns nothing alike for "no records" and
    "no broker", so readiness needs this (kafka-python 3.0's client, read defensively)."""
    client = getattr(consumer, "_client", None)
    cluster = getattr(client, "cluster", None)
    if client is None or cluster is None or not hasattr(client, "connected"):
        return None
    nodes = [getattr(broker, "node_id", None) for broker in cluster.brokers()]
    return any(client.connected(node) for node in nodes if node is not None)


def group_membership(consumer: KafkaConsumer) -> GroupMembership | None:
    """The membership of a consumer that subscribed to its group (None for manual assignment).

    Reads kafka-python 3.0.12 internals, for one known bug. The join runs as a task on the IO
    thread; only a poll waiting on it takes its result up, and polls drive the join only while
    ``need_rejoin()`` (kafka/coordinator/consumer.py ``poll``: ``if self.need_rejoin()``;
    kafka/coordinator/base.py ``join_group_async``: ``while self.need_rejoin()``). A leader's
    rejoin triggered only by a metadata change (``_assignment_snapshot !=
    _metadata_snapshot``, ``rejoin_needed`` still False) stops needing one as soon as the
    task's ``_perform_assignment`` records the new snapshot. When that JoinGroup response lands
    between two polls, no later poll awaits the task: the member stays ``<rebalancing>``, sends
    no heartbeat (heartbeats stop while not stable), never takes its assignment up, and the
    broker expires it after the session timeout. (Java joins while ``rejoinNeeded ||
    joinFuture != null``.)
    """
    if consumer.config.get("group_id") is None:
        return None
    subscription = consumer._subscription  # kafka-python internals, see above
    if not subscription.partitions_auto_assigned():
        return None
    coordinator = consumer._coordinator
    metadata = consumer.group_metadata()
    return GroupMembership(
        state=metadata.state,
        join_pending=bool(coordinator.need_rejoin()),
        generation=metadata.generation_id,
        partitions=frozenset(tp.partition for tp in consumer.assignment()),
    )


def request_rejoin(consumer: KafkaConsumer) -> None:
    """Make the next poll drive the group join: an orphaned one still in flight is awaited; one
    already answered is sent again (``join_group_async`` drops a finished task's result), one
    more rebalance. The revocation callback does not run again (``rejoining`` is still set)."""
    consumer._coordinator.request_rejoin()  # kafka-python internals: group_membership
