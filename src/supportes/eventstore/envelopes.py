"""Reading event envelopes off the log: decode, check the type, upcast to the current schema."""

from __future__ import annotations

import json
from typing import Any

import orjson

from supportes.aggregates.errors import EnvelopeError
from supportes.aggregates.wire import current_envelope


def decode_event(value: bytes | None) -> dict[str, Any]:
    """The envelope in ``value`` at the current schema version; EnvelopeError when unusable."""
    if value is None:
        raise EnvelopeError("empty record")
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogate escapes, which an old log may hold: such an event is
        # still an event (the projections park it, with its bytes), not a dead letter.
        try:
            envelope = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
    return current_envelope(envelope)[1]
