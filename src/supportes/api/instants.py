"""Instants given as query parameters: timezone required, kept as UTC, within what PostgreSQL
and Python can both hold (422 naming the parameter otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime

from supportes.api.errors import ApiError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def utc_instant(value: datetime | None, name: str) -> datetime | None:
    """``value`` in UTC, or None; ApiError 422 for a naive or out-of-range instant."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ApiError(422, "invalid", f"{name}: must include a timezone offset (e.g. Z)", name)
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise ApiError(
            422, "invalid", f"{name}: must lie between 1970-01-01 and 9999-12-30 (UTC)", name
        )
    return moment
