"""A case's history from the event index, and its state as it was at a given time.

The index holds every committed event with its place in the log; ``--as-of`` rebuilds the
aggregate from the events that had happened by then (never from the current projection row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg2.extensions

from supportes.aggregates.dispatch import rebuild, state_of
from supportes.aggregates.values import parse_rfc3339
from supportes.errors import UsageError
from supportes.eventstore.index import decode_raw
from supportes.ops.queries import dict_rows
from supportes.privacy.opener import EventOpener
from supportes.projections.base import LoggedEvent
from supportes.projections.timeline import summary


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an aggregate and where it sits in the log.

    ``via`` is the event's ``via`` (``{"id", "kind"}``: the integration that acted for
    ``actor``), or ``None``.
    """

    version: int
    type: str
    occurred_at: datetime
    actor: str
    summary: str
    topic: str
    partition: int
    offset: int
    hash: str
    envelope: dict[str, Any]
    """As the log holds it (personal fields sealed): what ``--from-log`` compares."""
    via: dict[str, Any] | None = None
    opened: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """The envelope with its personal fields opened (or masked), when the history was loaded
    with an opener: what the summary and the state ``as_of`` are made from."""

    @property
    def by(self) -> str:
        """Who did it, in words: ``customer:42 via integration:mail`` (or just the actor)."""
        return self.actor if self.via is None else f"{self.actor} via {self.via.get('id')}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the envelope included)."""
        return {
            "version": self.version,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "actor": self.actor,
            "via": self.via,
            "summary": self.summary,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "hash": self.hash,
            "envelope": self.envelope,
        }


def load_history(
    conn: psycopg2.extensions.connection,
    aggregate_id: UUID,
    opener: EventOpener | None = None,
) -> list[HistoryEntry]:
    """Every indexed event of ``aggregate_id`` in version order (those the index keeps as raw
    bytes, ``parked_records``, included); with ``opener``, summaries and states read the
    personal fields opened (``[erased]`` once erased), never sealed."""
    rows = dict_rows(
        conn,
        'SELECT version, type, occurred_at, topic, partition, "offset", hash, envelope'
        " FROM event_index.events WHERE aggregate_id = %s ORDER BY version",
        (str(aggregate_id),),
    )
    parked = dict_rows(
        conn,
        'SELECT topic, partition, "offset", raw FROM event_index.parked_records'
        " WHERE kind = 'event' AND aggregate_id = %s",
        (str(aggregate_id),),
    )
    for row in parked:
        envelope = decode_raw(row["raw"])
        rows.append(
            {
                **row,
                "version": int(envelope["version"]),
                "type": str(envelope["type"]),
                "occurred_at": parse_rfc3339(str(envelope["occurred_at"])),
                "hash": envelope.get("hash"),
                "envelope": envelope,
            }
        )
    entries = [entry_from_row(row) for row in sorted(rows, key=lambda row: int(row["version"]))]
    return entries if opener is None else opened_entries(entries, opener)


def opened_entries(entries: Sequence[HistoryEntry], opener: EventOpener) -> list[HistoryEntry]:
    """``entries`` with their personal fields opened for the summary and the state."""
    logged = [LoggedEvent(e.envelope, e.partition, e.offset) for e in entries]
    opener.open(logged)
    return [
        replace(entry, summary=summary(event), opened=event.envelope)
        for entry, event in zip(entries, logged, strict=True)
    ]


def entry_from_row(row: dict[str, Any]) -> HistoryEntry:
    """A :class:`HistoryEntry` from an event-index row (``version``, ``type``, ``occurred_at``,
    ``topic``, ``partition``, ``offset``, ``hash``, ``envelope``)."""
    envelope: dict[str, Any] = row["envelope"]
    logged = LoggedEvent(envelope, row["partition"], row["offset"])
    return HistoryEntry(
        version=row["version"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        actor=str(envelope.get("actor", {}).get("id", "?")),
        via=_via(envelope),
        summary=summary(logged),
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        hash=row["hash"],
        envelope=envelope,
    )


def _via(envelope: dict[str, Any]) -> dict[str, Any] | None:
    via = envelope.get("via")
    return dict(via) if isinstance(via, dict) else None


@dataclass(frozen=True)
class StateAsOf:
    """An aggregate as it was at ``at``: the events that had happened, and the state they make."""

    at: datetime
    entries: list[HistoryEntry]
    state: dict[str, Any]


def state_as_of(history: Sequence[HistoryEntry], at: datetime) -> StateAsOf:
    """The aggregate rebuilt from the events that occurred at or before ``at``.

    The events taken are the longest version prefix with ``occurred_at <= at`` (a state exists
    only for a prefix). Raises UsageError when the aggregate did not exist yet at ``at``.
    """
    taken: list[HistoryEntry] = []
    for entry in history:
        if entry.occurred_at > at:
            break
        taken.append(entry)
    if not taken:
        first = history[0].occurred_at.isoformat() if history else "never"
        raise UsageError(f"--as-of {at.isoformat()}: the case did not exist yet (opened {first})")
    aggregate = rebuild(entry.opened or entry.envelope for entry in taken)
    assert aggregate is not None
    return StateAsOf(at=at, entries=taken, state=state_of(aggregate))
