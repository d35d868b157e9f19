"""Event-type sets and small helpers shared by the projections (internal)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from supportes.aggregates.case import Case
from supportes.aggregates.root_cause import RootCause
from supportes.aggregates.wire import EVENT_TYPES
from supportes.projections.base import LoggedEvent

CASE_EVENTS = frozenset(t.name for t in EVENT_TYPES if t.aggregate_class is Case)
"""Wire types of every case event."""
ROOT_CAUSE_EVENTS = frozenset(t.name for t in EVENT_TYPES if t.aggregate_class is RootCause)
"""Wire types of every root-cause event."""

OPEN_STATUSES = ("new", "acknowledged", "assigned")
"""Case statuses of a case not yet resolved (nor closed)."""

Row = dict[str, Any]
Fold = Callable[[Row, LoggedEvent, Mapping[str, Any]], None]
"""A per-event-type fold step: ``(row, event, payload) -> None``. It sets ``row``'s values and
never mutates a list in place (it assigns a new one): callers compare rows to snapshots taken
before the fold to write only what changed."""


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an instant."""
    return moment.astimezone(UTC).date()


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 payload time (``...Z``) as an aware datetime, or ``None``."""
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clip(text: str, limit: int = 240) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    if "\n" in text or "\r" in text or "\t" in text:
        text = " ".join(text.split())
    return text
