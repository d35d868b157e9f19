"""JSON responses of database rows (UUIDs, instants, decimals) and the case ETag."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def json_response(
    document: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``document`` as ``application/json`` (orjson: UUIDs and datetimes in ISO 8601)."""
    body = orjson.dumps(document, default=_default, option=orjson.OPT_NON_STR_KEYS)
    return Response(
        body, status_code=status_code, headers=dict(headers or {}), media_type="application/json"
    )


def etag(version: int) -> str:
    """The ``ETag`` of an aggregate at ``version``."""
    return f'"{version}"'


__all__ = ["UUID", "date", "datetime", "etag", "json_response"]
