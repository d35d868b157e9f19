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

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

import psycopg2.extensions

from supportes.settings import Settings


class LoggedEvent:
    """One event envelope (upcast to the current schema) and its place in the log.

    The fields every projection reads are computed once here (a plain attribute read is far
    cheaper in the hot loop than a property, and Python 3.11's ``cached_property`` locks).
    """

    __slots__ = (
        "_aggregate_id",
        "_occurred_at",
        "envelope",
        "offset",
        "partition",
        "payload",
        "stored",
        "type",
        "version",
    )

    def __init__(
        self,
        envelope: Mapping[str, Any],
        partition: int,
        offset: int,
        stored: Mapping[str, Any] | None = None,
    ) -> None:
        self.envelope = envelope
        """The envelope the projections read: personal fields opened (or masked)."""
        self.stored = envelope if stored is None else stored
        """The envelope as the log holds it (sealed fields sealed): what parking keeps."""
        self.partition = partition
        self.offset = offset
        self.type: str = str(envelope["type"])
        self._aggregate_id: UUID | None = None
        self.version: int = int(envelope["version"])
        self.payload: Mapping[str, Any] = envelope.get("payload") or {}
        self._occurred_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"LoggedEvent({self.type} {self.aggregate_id} v{self.version} "
            f"@{self.partition}:{self.offset})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoggedEvent):
            return NotImplemented
        return (self.envelope, self.partition, self.offset) == (
            other.envelope,
            other.partition,
            other.offset,
        )

    def __hash__(self) -> int:
        return hash((self.partition, self.offset, self.aggregate_id, self.version))

    @property
    def aggregate_id(self) -> UUID:
        """The aggregate's id (parsed on first use: the hot paths key on the envelope's text)."""
        if self._aggregate_id is None:
            self._aggregate_id = UUID(str(self.envelope["aggregate_id"]))
        return self._aggregate_id

    @property
    def occurred_at(self) -> datetime:
        """When it happened (the command's ``issued_at``), tz-aware UTC."""
        if self._occurred_at is None:
            text = str(self.envelope["occurred_at"]).replace("Z", "+00:00")
            self._occurred_at = datetime.fromisoformat(text)
        return self._occurred_at

    @property
    def actor_id(self) -> str:
        """Who did it (``agent:maria``, ``customer:42``, ``system:supportes``)."""
        return str(self.envelope["actor"]["id"])


@dataclass(frozen=True)
class ProjectionContext:
    """What projections may know besides events: the configured service levels (and the
    known-answer threshold of "fix everything twice")."""

    sla_acknowledge: timedelta = timedelta(hours=1)
    sla_acknowledge_urgent: timedelta = timedelta(minutes=15)
    sla_update_customer: timedelta = timedelta(hours=24)
    sla_update_customer_urgent: timedelta = timedelta(hours=4)
    sla_follow_up_after_resolution: timedelta = timedelta(days=2)
    sla_root_cause: timedelta = timedelta(days=3)
    known_answer_threshold: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectionContext:
        """The service levels of ``SUPPORTES_SLA_*``."""
        return cls(
            sla_acknowledge=settings.sla_acknowledge,
            sla_acknowledge_urgent=settings.sla_acknowledge_urgent,
            sla_update_customer=settings.sla_update_customer,
            sla_update_customer_urgent=settings.sla_update_customer_urgent,
            sla_follow_up_after_resolution=settings.sla_follow_up_after_resolution,
            sla_root_cause=settings.sla_root_cause,
            known_answer_threshold=settings.known_answer_threshold,
        )


_LOCK_CLASS = 0x50524F4A  # "PROJ": advisory locks of serialized projections


def serialize(cur: psycopg2.extensions.cursor, name: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock of projection
    ``name`` (see :attr:`Projection.serialized`)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, key))


class Projection(ABC):
    """A read model in PostgreSQL built from the event log."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    handles: ClassVar[frozenset[str]]
    weight: ClassVar[int] = 10
    """Rough share (percent) of a batch's apply time, measured on the benchmark replay: only
    used to spread the projections evenly over the projector's connections."""
    serialized: ClassVar[bool] = False
    """True when :meth:`apply` reads rows that events of other partitions write (counts across
    aggregates): two projector processes sharing the partitions would each decide on what the
    other has not committed yet (write skew). The projector then takes the projection's
    transaction-scoped advisory lock (:func:`serialize`) before applying it, so its
    transactions run one at a time across processes. Additive upserts need no lock."""

    @abstractmethod
    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Apply a batch of events (only types in ``handles``) inside the caller's transaction."""

    def prepare(self, events: Sequence[LoggedEvent]) -> object | None:
        """Optional: the part of :meth:`apply` that needs no database, for these events.

        Pure; the projector may run it on another thread before the transaction and hand its
        result to :meth:`apply_prepared` when the batch gives this projection exactly these
        events. ``None`` (the default): nothing to prepare.
        """
        return None

    def apply_prepared(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
        prepared: object,
    ) -> None:
        """:meth:`apply` with what :meth:`prepare` returned for exactly these ``events``."""
        self.apply(cur, events, context)
