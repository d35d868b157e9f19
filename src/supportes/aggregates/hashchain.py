"""Per-aggregate hash chains over event envelopes (design section 3).

``hash`` = SHA-256 hex (or HMAC-SHA-256 hex with an audit key) of the canonical JSON of the
envelope without ``hash``; ``prev_hash`` links to the previous event of the same aggregate.
Verify envelopes exactly as stored (before upcasting): upcasting changes the bytes.

What a chain alone can and cannot prove: any altered, reordered or removed event *inside* the
chain breaks it. Removing events at the *end* leaves a valid shorter chain, so pass the head
known from elsewhere (``expected_last_version``/``expected_last_hash``, e.g. from the event index
or the log's offsets). Without an audit key anyone can rewrite an event and re-hash everything
after it; with a key (HMAC) that needs the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (``ensure_ascii=False``), NaN/Infinity refused."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def float_free_canonical_json(obj: Any) -> bytes:
    """:func:`canonical_json` for values that hold no float, ~15x faster (orjson).

    The same bytes for every such value (a property test checks it); floats are where the two
    differ (``1e-05`` against ``0.00001``; NaN becomes ``null``), and no event envelope holds
    one: no event field is a float (tested). orjson's refusals (integers beyond 64 bits,
    non-string keys) fall back to :func:`canonical_json`.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return canonical_json(obj)


def _digest(body: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def holds_float(value: Any) -> bool:
    """True when ``value`` (JSON-shaped: dicts, lists, scalars) holds a float anywhere, or
    anything that is not a dict, list, str, int, bool or None (the reference encoder decides)."""
    kind = type(value)
    if kind is dict:
        items: Iterable[Any] = value.values()
    elif kind is list:
        items = value
    else:
        return not (kind is str or kind is int or kind is bool or value is None)
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if holds_float(item):
            return True
    return False


def event_hash(
    envelope: Mapping[str, Any], key: bytes | None = None, *, float_free: bool = False
) -> str:
    """Hex digest of an envelope (its ``hash`` field, if present, is ignored).

    The bytes are :func:`canonical_json`'s; for float-free envelopes (every event) they are
    produced by :func:`float_free_canonical_json`, which yields the same bytes ~15x faster.
    ``float_free=True`` says the caller has already established it (:func:`holds_float`).
    """
    body = {k: v for k, v in envelope.items() if k != "hash"}
    if float_free or not holds_float(body):
        return _digest(float_free_canonical_json(body), key)
    return _digest(canonical_json(body), key)


def seal(envelope: Mapping[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """A copy of a new event's envelope (float-free, like every event) with its ``hash`` set:
    the :func:`event_hash` of it, computed with :func:`float_free_canonical_json`."""
    sealed = {k: v for k, v in envelope.items() if k != "hash"}
    sealed["hash"] = _digest(float_free_canonical_json(sealed), key)
    return sealed


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify_chain`.

    ``first_bad_version`` is the version expected at the first position that fails (for an
    in-order chain, the version of the bad event); ``reason`` says why.
    """

    ok: bool
    aggregate_id: str | None
    checked: int
    last_version: int
    last_hash: str | None
    first_bad_version: int | None = None
    reason: str | None = None


def version_problem(envelope: Mapping[str, Any], last_version: int) -> str | None:
    """Why ``envelope``'s version cannot follow ``last_version`` (None when it can)."""
    found = envelope.get("version")
    if not isinstance(found, int) or isinstance(found, bool):
        return f"version is not an integer: {found!r}"
    if found > last_version + 1:
        return f"version gap: expected {last_version + 1}, found {found}"
    if found <= last_version:
        return f"duplicate or out-of-order version: expected {last_version + 1}, found {found}"
    return None


def hash_problem(
    envelope: Mapping[str, Any],
    last_hash: str | None,
    key: bytes | None = None,
    *,
    float_free: bool = False,
) -> str | None:
    """Why ``envelope`` does not link to ``last_hash`` or match its own hash (None when ok)."""
    if envelope.get("prev_hash") != last_hash:
        return "prev_hash mismatch: the previous event was altered, removed or inserted"
    stored = envelope.get("hash")
    if not isinstance(stored, str):
        return "missing hash"
    try:
        expected = event_hash(envelope, key, float_free=float_free)
    except (UnicodeEncodeError, ValueError, TypeError) as exc:  # no canonical form: not sealed
        return f"no canonical form to hash (no version seals such an event): {exc}"
    if not hmac.compare_digest(stored, expected):
        return "hash mismatch: the event was altered (or hashed with another key)"
    return None


def verify_chain(
    envelopes: Iterable[Mapping[str, Any]],
    key: bytes | None = None,
    *,
    expected_last_version: int | None = None,
    expected_last_hash: str | None = None,
) -> ChainReport:
    """Check one aggregate's envelopes, in stored order, from version 1.

    Detects: hash mismatch (altered event, or wrong key), ``prev_hash`` mismatch (an event
    removed, inserted or rewritten before it), version gap, duplicate or out-of-order version,
    a different aggregate id, and - given the expected head - a truncated chain.
    """
    aggregate_id: str | None = None
    prev: str | None = None
    version = 0
    checked = 0

    def bad(reason: str, first_bad: int | None = None) -> ChainReport:
        at = version + 1 if first_bad is None else first_bad
        return ChainReport(False, aggregate_id, checked, version, prev, at, reason)

    for envelope in envelopes:
        if aggregate_id is None:
            aggregate_id = str(envelope.get("aggregate_id"))
        elif envelope.get("aggregate_id") != aggregate_id:
            return bad(f"wrong aggregate id {envelope.get('aggregate_id')!r}")
        problem = version_problem(envelope, version) or hash_problem(envelope, prev, key)
        if problem is not None:
            return bad(problem)
        prev = envelope["hash"]
        version = envelope["version"]
        checked += 1

    if expected_last_version is not None and version < expected_last_version:
        return bad(f"chain ends at version {version}, expected {expected_last_version}")
    if expected_last_version is not None and version > expected_last_version:
        return bad(
            f"chain continues past the expected last version {expected_last_version}",
            expected_last_version + 1,
        )
    if expected_last_hash is not None and prev != expected_last_hash:
        return bad("the last event differs from the expected head (rewritten, re-hashed)", version)
    return ChainReport(True, aggregate_id, checked, version, prev)
