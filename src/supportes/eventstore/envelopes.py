"""Reading event envelopes off the log: decode, check the type, upcast to the current schema."""

from __future__ import annotations

import json
from typing import Any

from supportes.aggregates.errors import EnvelopeError
from supportes.aggregates.upcasting import upcast
from supportes.aggregates.wire import BY_NAME

REQUIRED = (
    "event_id",
    "type",
    "schema_version",
    "aggregate_type",
    "aggregate_id",
    "version",
    "occurred_at",
    "actor",
    "payload",
    "hash",
)


def decode_event(value: bytes | None) -> dict[str, Any]:
    """The envelope in ``value`` at the current schema version; EnvelopeError when unusable."""
    if value is None:
        raise EnvelopeError("empty record")
    try:
        envelope = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise EnvelopeError("an event envelope must be a JSON object")
    missing = [key for key in REQUIRED if key not in envelope]
    if missing:
        raise EnvelopeError(f"envelope lacks {', '.join(missing)}")
    registered = BY_NAME.get(str(envelope["type"]))
    if registered is None:
        raise EnvelopeError(f"unknown event type {envelope['type']!r}")
    if envelope["aggregate_type"] != registered.aggregate_class.aggregate_type:
        raise EnvelopeError(f"{registered.name} does not belong to {envelope['aggregate_type']!r}")
    return upcast(envelope, registered.schema_version)
