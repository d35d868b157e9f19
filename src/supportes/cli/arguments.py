"""Parsing times and days given on the command line; errors name the option and the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime

from supportes.errors import UsageError

_TIME_RULE = "expected ISO 8601 such as 2026-01-05T09:30:00Z; no zone means UTC"


def parse_time(text: str | None, option: str) -> datetime | None:
    """A tz-aware UTC instant from ``text`` (``None`` stays ``None``).

    Accepts ISO 8601 date-times with ``Z`` or an offset; without one, UTC. A bare day means
    its start (00:00 UTC). ``now`` is the current time.
    """
    if text is None:
        return None
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: malformed time {text!r} ({_TIME_RULE})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_day(text: str | None, option: str) -> date | None:
    """A UTC day ``YYYY-MM-DD`` (``None`` stays ``None``)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option}: malformed day {text!r} (expected YYYY-MM-DD)") from None


def positive_int(text: str, option: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a whole number") from None
    if value < 1:
        raise UsageError(f"{option}: must be at least 1, got {value}")
    return value
