"""Compact JSON bytes for records and index rows: same value as the standard library, any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from supportes import fastjson

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_reads_back_as_the_same_value(value: Any) -> None:
    assert json.loads(fastjson.dumps(value)) == value
    assert json.loads(fastjson.dumps_text(value)) == value


def test_compact_utf8_without_ascii_escapes() -> None:
    assert fastjson.dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    assert fastjson.dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert fastjson.dumps({1: "x"}) == b'{"1":"x"}'


def test_a_lone_surrogate_is_written_as_an_escape() -> None:
    assert fastjson.dumps({"s": "a\ud800b"}) == b'{"s":"a\\ud800b"}'
