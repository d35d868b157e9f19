"""The contract between the projector and the read models.

A projection declares its ``name``, the ``tables`` it owns (unqualified names: the projector sets
``search_path`` to the live schema ``proj`` or to a shadow schema during a rebuild) and the event
types it ``handles``. The projector calls :meth:`Projection.apply` once per poll batch, inside
the PostgreSQL transaction that also stores the offsets, with the batch's events for that
projection in log order per partition (so per aggregate in version order). Events of different
aggregates, and of different partitions, arrive in any interleaving across batches: a
projection must give the same tables for every such interleaving.

``apply`` must be set-based (read the rows it needs once, write with ``execute_values`` or COPY
into staging plus one upsert), deterministic (no ``now()``; times come from events and the
service levels in :class:`ProjectionContext`), and idempotent per event only through the
projector's offsets (it never sees an event twice).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

import psycopg2.extensions

from supportes.settings import Settings


@dataclass(frozen=True)
class LoggedEvent:
    """One event envelope (upcast to the current schema) and its place in the log."""

    envelope: Mapping[str, Any]
    partition: int
    offset: int

    @cached_property
    def type(self) -> str:
        """Wire name, e.g. ``CaseOpened``."""
        return str(self.envelope["type"])

    @cached_property
    def aggregate_id(self) -> UUID:
        """The case or root cause id."""
        return UUID(str(self.envelope["aggregate_id"]))

    @cached_property
    def version(self) -> int:
        """Version of the aggregate after this event."""
        return int(self.envelope["version"])

    @cached_property
    def occurred_at(self) -> datetime:
        """When it happened (the command's ``issued_at``), tz-aware UTC."""
        return datetime.fromisoformat(str(self.envelope["occurred_at"]).replace("Z", "+00:00"))

    @cached_property
    def payload(self) -> Mapping[str, Any]:
        """The event's own fields."""
        payload: Mapping[str, Any] = self.envelope.get("payload") or {}
        return payload

    @property
    def actor_id(self) -> str:
        """Who did it (``agent:maria``, ``customer:42``, ``system:supportes``)."""
        return str(self.envelope["actor"]["id"])


@dataclass(frozen=True)
class ProjectionContext:
    """What projections may know besides events: the configured service levels."""

    sla_acknowledge: timedelta = timedelta(hours=1)
    sla_acknowledge_urgent: timedelta = timedelta(minutes=15)
    sla_update_customer: timedelta = timedelta(hours=24)
    sla_update_customer_urgent: timedelta = timedelta(hours=4)
    sla_follow_up_after_resolution: timedelta = timedelta(days=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectionContext:
        """The service levels of ``SUPPORTES_SLA_*``."""
        return cls(
            sla_acknowledge=settings.sla_acknowledge,
            sla_acknowledge_urgent=settings.sla_acknowledge_urgent,
            sla_update_customer=settings.sla_update_customer,
            sla_update_customer_urgent=settings.sla_update_customer_urgent,
            sla_follow_up_after_resolution=settings.sla_follow_up_after_resolution,
        )


class Projection(ABC):
    """A read model in PostgreSQL built from the event log."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    handles: ClassVar[frozenset[str]]

    @abstractmethod
    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Apply a batch of events (only types in ``handles``) inside the caller's transaction."""
