"""Compact JSON bytes for the hot paths (records on Kafka, index rows): orjson, with the
standard library as the fallback for what orjson refuses (integers beyond 64 bits, non-string
keys, lone surrogates, which are written as ``\ud800`` escapes), so an odd value is never a
reason to stop the writer.

Not for hashing: :func:`~supportes.aggregates.hashchain.canonical_json` fixes the bytes that
event hashes cover.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (no whitespace, non-ASCII kept as is)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate (an old log): escaped, as JSON allows
            return json.dumps(value, separators=(",", ":")).encode()


def dumps_text(value: Any) -> str:
    """:func:`dumps` as text."""
    return dumps(value).decode()
