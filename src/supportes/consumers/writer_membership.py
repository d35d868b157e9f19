"""Keeping the writer's group consumer a live member of its group (group mode).

kafka-python 3.0.12 can orphan a join (:func:`~supportes.messaging.clients.group_membership`):
the member stays ``<rebalancing>`` with no heartbeat and no join in progress, its partitions
revoked and never given back, until the broker expires it. The watch runs between two polls:

- a join orphaned is made pending again (the next poll finishes it): the remedy, at once;
- a member not stable for longer than :data:`STALLED_SESSIONS` session timeouts is replaced by
  a new consumer, whatever the cause: the safety net. A healthy rebalance takes seconds; a
  member kept waiting by another that does not rejoin (stalled in a takeover) is replaced
  once per period, which costs a re-join and nothing else.

A member that is stable without partitions (more writers than partitions) is left alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from supportes.consumers.writer_state import first_line
from supportes.errors import ConfigError
from supportes.logs import get_logger
from supportes.messaging.clients import GroupMembership, group_membership, request_rejoin

log = get_logger("writer")

STALLED_SESSIONS = 2
"""Session timeouts a member may stay unstable before its consumer is made anew: by then the
broker has expired a member that stopped heartbeating, so waiting longer cannot help."""


class MembershipWatch:
    """Revives an orphaned join; replaces a consumer unstable for ``stalled_after_s``."""

    def __init__(
        self,
        new_consumer: Callable[[], KafkaConsumer],
        subscribe: Callable[[KafkaConsumer], object],
        *,
        stalled_after_s: float,
        observe: Callable[[KafkaConsumer], GroupMembership | None] = group_membership,
        rejoin: Callable[[KafkaConsumer], None] = request_rejoin,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._new_consumer = new_consumer
        self._subscribe = subscribe
        self.stalled_after_s = stalled_after_s
        self._observe = observe
        self._rejoin = rejoin
        self._clock = clock
        self._unstable_since: float | None = None
        self.rejoins = 0
        """Orphaned joins made pending again."""
        self.replaced = 0
        """Consumers made anew."""

    def check(self, consumer: KafkaConsumer) -> KafkaConsumer:
        """``consumer`` (its orphaned join made pending again, if any), or a new subscribed one
        when it has not been stable for ``stalled_after_s``."""
        membership = self._observe(consumer)
        if membership is None or membership.stable:
            self._unstable_since = None
            return consumer
        now = self._clock()
        if self._unstable_since is None:
            self._unstable_since = now
        if membership.join_orphaned:
            log.warning(
                "group join orphaned by kafka-python (no poll would finish it): rejoining",
                group=consumer.config.get("group_id"),
                state=membership.state,
                generation=membership.generation,
                partitions=sorted(membership.partitions),
            )
            self._rejoin(consumer)
            self.rejoins += 1
        if now - self._unstable_since < self.stalled_after_s:
            return consumer
        return self._replace(consumer, membership, now - self._unstable_since)

    def _replace(
        self, consumer: KafkaConsumer, membership: GroupMembership, unstable_s: float
    ) -> KafkaConsumer:
        """A new subscribed consumer, then the old one closed (kept if the new one fails)."""
        group = consumer.config.get("group_id")
        log.warning(
            "group member not stable for too long: re-creating the group consumer",
            group=group,
            state=membership.state,
            generation=membership.generation,
            partitions=sorted(membership.partitions),
            seconds=round(unstable_s),
        )
        self._unstable_since = self._clock()  # the next attempt, one period on at the earliest
        try:
            fresh = self._new_consumer()
        except (KafkaError, ConfigError, OSError) as exc:
            log.warning("new group consumer failed; keeping the old one", error=first_line(exc))
            return consumer
        try:
            self._subscribe(fresh)
        except (KafkaError, ConfigError, OSError) as exc:
            log.warning("new group consumer failed; keeping the old one", error=first_line(exc))
            with contextlib.suppress(Exception):
                fresh.close(autocommit=False)
            return consumer
        with contextlib.suppress(Exception):
            consumer.close(autocommit=False)
        self.replaced += 1
        return fresh
