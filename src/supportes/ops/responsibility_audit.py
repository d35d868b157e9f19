"""Who held which role on a case at a given time, and the whole chain of hand-offs.

Read from ``proj.responsibility`` (half-open intervals ``[from_at, to_at)`` with the actor and
event that opened and closed each, and the integration, if any, that acted for that actor).
Responsible at T: the responsible or escalation interval covering T, else the assignee interval
covering T (the same rule as the projection's docs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg2.extensions

from supportes.ops.queries import dict_rows

ROLES = ("assignee", "responsible", "escalation")


@dataclass(frozen=True)
class Interval:
    """One agent holding one role on a case for a while."""

    role: str
    agent_id: str
    from_at: datetime
    from_version: int
    to_at: datetime | None
    to_version: int | None
    opened_by: str
    opened_by_event: str
    closed_by: str | None
    closed_by_event: str | None
    note: str | None
    opened_via_id: str | None = None
    opened_via_kind: str | None = None
    closed_via_id: str | None = None
    closed_via_kind: str | None = None

    @property
    def opened_by_text(self) -> str:
        """``customer:42 via integration:mail`` (or just the actor who made the hand-off)."""
        return _by(self.opened_by, self.opened_via_id)

    @property
    def closed_by_text(self) -> str | None:
        """The actor whose event ended the interval, with its ``via``; ``None`` while open."""
        return None if self.closed_by is None else _by(self.closed_by, self.closed_via_id)

    def covers(self, at: datetime) -> bool:
        """Whether the agent held the role at ``at``."""
        return self.from_at <= at and (self.to_at is None or at < self.to_at)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "role": self.role,
            "agent_id": self.agent_id,
            "from_at": self.from_at.isoformat(),
            "from_version": self.from_version,
            "to_at": None if self.to_at is None else self.to_at.isoformat(),
            "to_version": self.to_version,
            "opened_by": self.opened_by,
            "opened_by_event": self.opened_by_event,
            "closed_by": self.closed_by,
            "closed_by_event": self.closed_by_event,
            "note": self.note,
            "opened_via": _via(self.opened_via_id, self.opened_via_kind),
            "closed_via": _via(self.closed_via_id, self.closed_via_kind),
        }


def _by(actor: str, via_id: str | None) -> str:
    return actor if via_id is None else f"{actor} via {via_id}"


def _via(via_id: str | None, via_kind: str | None) -> dict[str, str | None] | None:
    return None if via_id is None else {"id": via_id, "kind": via_kind}


@dataclass(frozen=True)
class ResponsibilityAt:
    """The holders of each role at ``at`` and who was responsible for the case then."""

    case_id: UUID
    at: datetime
    holders: dict[str, Interval | None]
    responsible: Interval | None
    trail: list[Interval]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "case_id": str(self.case_id),
            "at": self.at.isoformat(),
            "holders": {
                role: None if held is None else held.as_dict()
                for role, held in self.holders.items()
            },
            "responsible": None if self.responsible is None else self.responsible.as_dict(),
            "trail": [interval.as_dict() for interval in self.trail],
        }


def load_trail(conn: psycopg2.extensions.connection, case_id: UUID) -> list[Interval]:
    """Every interval of the case, in the order the hand-offs happened."""
    rows = dict_rows(
        conn,
        "SELECT role, agent_id, from_at, from_version, to_at, to_version, opened_by,"
        " opened_by_event, closed_by, closed_by_event, note, opened_via_id, opened_via_kind,"
        " closed_via_id, closed_via_kind FROM proj.responsibility"
        " WHERE case_id = %s ORDER BY from_version, from_at,"
        " array_position(ARRAY['assignee','responsible','escalation'], role)",
        (str(case_id),),
    )
    return [Interval(**row) for row in rows]


def responsibility_at(case_id: UUID, trail: Sequence[Interval], at: datetime) -> ResponsibilityAt:
    """Holders at ``at`` (latest interval covering it per role) and the responsible one."""
    holders: dict[str, Interval | None] = dict.fromkeys(ROLES)
    for interval in trail:
        if interval.covers(at):
            holders[interval.role] = interval
    taking = [h for h in (holders["responsible"], holders["escalation"]) if h is not None]
    responsible = max(taking, key=lambda h: h.from_version) if taking else holders["assignee"]
    return ResponsibilityAt(
        case_id=case_id,
        at=at,
        holders=holders,
        responsible=responsible,
        trail=list(trail),
    )
