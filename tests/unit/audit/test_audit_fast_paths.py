"""The fast paths of ``audit verify``: orjson decoding and the float-free canonical form give
the reference results (standard library json) and fall back to them where orjson differs."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from supportes.aggregates import canonical_json, event_hash
from supportes.aggregates.hashchain import holds_float
from supportes.ops.audit_checks import IndexRow, _decode, _decode_checked, row_problem

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _reference_hash(envelope: dict[str, Any], key: bytes | None) -> str:
    body = canonical_json({k: v for k, v in envelope.items() if k != "hash"})
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def test_holds_float_finds_nested_floats() -> None:
    assert not holds_float({"a": [1, "x", None, True, {"b": 2}]})
    assert holds_float({"a": [1, {"b": 2.0}]})
    assert holds_float(1e-05)
    assert holds_float({"a": (1, 2)})  # not JSON-shaped: the reference encoder decides


@given(st.dictionaries(st.text(), _json, max_size=6), st.sampled_from([None, b"k" * 32]))
def test_event_hash_is_the_reference_hash(envelope: dict[str, Any], key: bytes | None) -> None:
    assert event_hash(envelope, key) == _reference_hash(envelope, key)


def test_a_float_is_hashed_with_the_reference_encoder() -> None:
    envelope = {"amount": 1e-05, "hash": "x"}
    assert event_hash(envelope) == _reference_hash(envelope, None)


@given(_json)
def test_decoding_gives_the_standard_librarys_value(value: Any) -> None:
    raw = json.dumps(value).encode()
    decoded, _ = _decode(raw)
    assert decoded == json.loads(raw)


def test_texts_orjson_refuses_are_read_by_the_standard_library() -> None:
    for raw in (b'{"a": "\\ud800"}', b'{"a": NaN}', b'{"a": 123456789012345678901234567890}'):
        decoded, _ = _decode(raw)
        assert decoded == json.loads(raw)


def test_not_json_is_still_reported() -> None:
    decoded, problem = _decode(b"{not json")
    assert decoded is None
    assert problem is not None
    assert problem.startswith("not JSON:")


@given(st.dictionaries(st.text(), _json, max_size=6))
def test_the_decoder_says_float_free_only_when_it_is(envelope: dict[str, Any]) -> None:
    decoded, _, float_free = _decode_checked(json.dumps(envelope).encode())
    assert decoded == envelope
    if float_free:
        assert not holds_float(decoded)
        assert event_hash(decoded, float_free=True) == _reference_hash(decoded, None)


def _fast_row(text: str) -> IndexRow:
    """An index row as ``audit verify`` reads it: the envelope's text and its fast decoding,
    columns already found to agree by PostgreSQL."""
    try:
        envelope, kept = orjson.loads(text), text
    except orjson.JSONDecodeError:
        envelope, kept = json.loads(text), None
    return IndexRow(0, 0, {}, envelope, columns_agree=True, text=kept)


def _same_verdict(logged: Any, stored: Any) -> None:
    log_value = json.dumps({"payload": logged}).encode()
    try:  # as the log record is read (not an event envelope here, so by hand)
        log_envelope = orjson.loads(log_value)
        float_free = not holds_float(log_envelope)
    except orjson.JSONDecodeError:
        log_envelope, float_free = json.loads(log_value), False
    if not float_free:
        log_envelope = json.loads(log_value)
    text = json.dumps({"payload": stored})
    reference = json.loads(text) != json.loads(log_value)
    found = row_problem(log_envelope, _fast_row(text), exact_log=float_free)
    assert (found is not None) == reference, (logged, stored, found)


@given(_json, _json)
def test_reading_index_rows_fast_gives_the_reference_verdict(logged: Any, stored: Any) -> None:
    _same_verdict(logged, logged)
    _same_verdict(logged, stored)


def test_an_integer_orjson_rounds_to_a_logged_int64_still_differs() -> None:
    # orjson reads -2**63 - 1 as the float -2**63, equal to the logged integer.
    _same_verdict(-(2**63), -(2**63) - 1)
    _same_verdict(2**64 - 1, 2**64)
    _same_verdict(10**20, 10**20 + 1)
    _same_verdict([1, "x"], [1.0, "x"])
