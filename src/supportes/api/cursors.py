"""Opaque cursors: URL-safe base64 of a small JSON document (422 naming the parameter when
one cannot be read)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from supportes.api.errors import ApiError


def encode_cursor(state: Any) -> str:
    """The cursor for ``state`` (any JSON value)."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, parameter: str) -> Any:
    """The state a cursor holds."""
    try:
        padded = text + "=" * (-len(text) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiError(
            422, "invalid", f"{parameter}: not a cursor this API returned", parameter
        ) from None
