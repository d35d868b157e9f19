"""The request headers the command and case routes read: checked here, documented in OpenAPI
through ``openapi_extra``.

They are read from ``request.headers`` rather than declared as FastAPI ``Header`` parameters:
each declared parameter is one more solve on every request (two of them cost ~28 us of the
~130 us FastAPI spends on a submit, measured in-process), and a refusal here names the header
and its rule in the one error body, as a declared parameter's would.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from supportes.api.errors import ApiError

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 200
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
IF_MATCH = "If-Match"
IF_MATCH_MAX = 20
_IF_MATCH_VERSION = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')


def header_parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """An optional header as an OpenAPI parameter object."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


IDEMPOTENCY_KEY_PARAMETER = header_parameter(
    IDEMPOTENCY_KEY,
    "Your key for this command (printable ASCII): a retry answers the first result with "
    "`Idempotent-Replayed: true`.",
    minLength=1,
    maxLength=IDEMPOTENCY_KEY_MAX,
    pattern=r"^[\x21-\x7e]+$",
)
IF_MATCH_PARAMETER = header_parameter(
    IF_MATCH,
    '`"<version>"` the aggregate must be at (412 otherwise).',
    maxLength=IF_MATCH_MAX,
)
IF_NONE_MATCH_PARAMETER = header_parameter(
    "If-None-Match",
    "The case's `ETag`: 304 without a body while the case is at that version.",
    maxLength=100,
)


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` (422 naming it when it breaks its rule)."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or _PRINTABLE.fullmatch(value) is None:
        raise ApiError(
            422,
            "invalid",
            f"{IDEMPOTENCY_KEY}: must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"
            " without spaces",
            IDEMPOTENCY_KEY,
        )
    return value


def if_match(request: Request) -> str | None:
    """The request's ``If-Match`` as sent (422 naming it when longer than its limit)."""
    value = request.headers.get("if-match")
    if value is not None and len(value) > IF_MATCH_MAX:
        raise ApiError(
            422, "invalid", f"{IF_MATCH}: must be at most {IF_MATCH_MAX} characters", IF_MATCH
        )
    return value


def expected_version(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (422 naming the header when malformed)."""
    if value is None:
        return None
    found = _IF_MATCH_VERSION.match(value)
    if found is None:
        raise ApiError(422, "invalid", 'If-Match: must be a quoted version, e.g. "3"', IF_MATCH)
    return int(found.group(1))
