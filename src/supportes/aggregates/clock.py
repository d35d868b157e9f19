"""The one time rule on commands: ``issued_at`` may not lie too far in the future.

``issued_at`` is when a command happened (imports keep their historical times), so the past is
open; the future is not: a command dated 9999-12-31 would sit at the end of every "who was
responsible at T" answer forever. The writer refuses any command whose ``issued_at`` is more
than the configured skew (``SUPPORTES_MAX_CLOCK_SKEW``, default 5 minutes) ahead of its own
clock. Only new commands are checked, when the writer decides them: events already decided are
facts and are never re-checked (rebuilds, replays and projections do not look at the clock).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from supportes.aggregates.errors import ErrorCode, Rejection
from supportes.aggregates.values import rfc3339

DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


def describe_skew(skew: timedelta) -> str:
    """``5 minutes`` / ``90 seconds`` / ``1 hour``: the limit as a person says it."""
    seconds = int(skew.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{skew.total_seconds():g} seconds"


def check_issued_at(issued_at: datetime, *, now: datetime, max_skew: timedelta) -> None:
    """Refuse ``issued_at`` later than ``now + max_skew`` (``invalid``, field ``issued_at``).

    Pure: ``now`` is the deciding writer's clock, passed in.
    """
    if issued_at > now + max_skew:
        raise Rejection(
            ErrorCode.INVALID,
            f"issued_at: {rfc3339(issued_at)} is more than {describe_skew(max_skew)} "
            f"(SUPPORTES_MAX_CLOCK_SKEW) ahead of the writer's clock ({rfc3339(now)})",
            "issued_at",
        )
