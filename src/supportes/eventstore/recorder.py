"""An ``eventsourcing`` aggregate recorder whose store is Kafka.

Appends go into the writer's open Kafka transaction (through an ``append`` callable); loads come
from the PostgreSQL event index plus the events still pending in the current transaction. The
optimistic-concurrency check is the library's: an appended version must follow the last known
one, else :class:`eventsourcing.persistence.IntegrityError`. It holds because exactly one fenced
writer owns a partition, so the index plus the pending events are the whole truth for its cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, IntegrityError, StoredEvent

from supportes import fastjson
from supportes.eventstore.index import EventIndex

Append = Callable[[StoredEvent], None]


class KafkaEventRecorder(AggregateRecorder):
    """Stored events whose ``state`` is the UTF-8 JSON wire envelope and ``topic`` its type."""

    def __init__(self, index: EventIndex, append: Append) -> None:
        self._index = index
        self._append = append
        self._pending: dict[UUID, list[StoredEvent]] = {}
        self._last_version: dict[UUID, int] = {}

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """Check versions follow on, then hand each envelope to the open transaction."""
        for stored in stored_events:
            aggregate_id = _uuid(stored.originator_id)
            last = self._known_version(aggregate_id)
            if stored.originator_version != last + 1:
                raise IntegrityError(
                    f"{aggregate_id}: version {stored.originator_version} does not follow {last}"
                )
            self._last_version[aggregate_id] = stored.originator_version
            self._pending.setdefault(aggregate_id, []).append(stored)
            self._append(stored)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Indexed events of one aggregate followed by its pending ones, filtered as asked."""
        aggregate_id = _uuid(originator_id)
        envelopes = self._index.envelopes_of([aggregate_id]).get(aggregate_id, [])
        stored = [to_stored_event(e) for e in envelopes] + self._pending.get(aggregate_id, [])
        if stored:
            self._last_version[aggregate_id] = stored[-1].originator_version
        else:
            self._last_version.setdefault(aggregate_id, 0)
        selected = [
            s
            for s in stored
            if (gt is None or s.originator_version > gt)
            and (lte is None or s.originator_version <= lte)
        ]
        if desc:
            selected.reverse()
        return selected[:limit] if limit is not None else selected

    def remember(self, aggregate_id: UUID, version: int) -> None:
        """Record a version learnt elsewhere (an aggregate loaded in bulk from the index)."""
        self._last_version[aggregate_id] = version

    def end_transaction(self, *, committed: bool) -> None:
        """Forget pending events; after an abort also forget versions they advanced."""
        if not committed:
            for aggregate_id in self._pending:
                self._last_version.pop(aggregate_id, None)
        self._pending.clear()

    def forget(self) -> None:
        """Drop everything known (the partition was lost or must be rebuilt from the log)."""
        self._pending.clear()
        self._last_version.clear()

    def _known_version(self, aggregate_id: UUID) -> int:
        if aggregate_id not in self._last_version:
            self.select_events(aggregate_id)
        return self._last_version[aggregate_id]


def to_stored_event(envelope: dict[str, Any]) -> StoredEvent:
    """The eventsourcing view of one wire envelope."""
    return StoredEvent(
        originator_id=UUID(envelope["aggregate_id"]),
        originator_version=int(envelope["version"]),
        topic=envelope["type"],
        state=fastjson.dumps(envelope),
    )


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
