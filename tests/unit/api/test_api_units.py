"""The API's pure parts: status mapping, cursors, rate limiting, intake subjects, literals."""

from __future__ import annotations

import typing

import pytest
from starlette.requests import Request

from supportes.api.cursors import decode_cursor, encode_cursor
from supportes.api.errors import ApiError, result_status
from supportes.api.headers import expected_version, idempotency_key, if_match
from supportes.api.ratelimit import RateLimiter
from supportes.api.routes.reads import FollowUpKind, RepeatBy
from supportes.ops.intake import SUBJECT_CHARS, subject_of
from supportes.ops.reports import FOLLOW_UP_KINDS, REPEAT_ISSUES


def _rejected(code: str) -> dict[str, object]:
    return {"status": "rejected", "error": {"code": code, "message": "m", "field": None}}


@pytest.mark.parametrize(
    ("result", "if_match", "status"),
    [
        ({"status": "accepted", "events": [{"version": 1}]}, False, 201),
        ({"status": "accepted", "events": [{"version": 4}]}, False, 200),
        ({"status": "accepted", "events": []}, False, 200),
        (_rejected("invalid"), False, 422),
        (_rejected("not_found"), False, 404),
        (_rejected("version_conflict"), True, 412),
        (_rejected("version_conflict"), False, 409),
        (_rejected("idempotency_key_reused"), False, 422),
        (_rejected("case_closed"), False, 409),
        (_rejected("already_exists"), False, 409),
    ],
)
def test_result_status_follows_the_design_mapping(
    result: dict[str, object], if_match: bool, status: int
) -> None:
    assert result_status(result, if_match=if_match) == status


def test_cursor_round_trips_and_garbage_names_the_parameter() -> None:
    state = {"0": 12, "5": 3}
    assert decode_cursor(encode_cursor(state), "after") == state
    with pytest.raises(ApiError) as refused:
        decode_cursor("!!not-base64!!", "after")
    assert refused.value.status == 422
    assert refused.value.field == "after"


def test_if_match_accepts_quoted_versions_only() -> None:
    assert expected_version(None) is None
    assert expected_version('"7"') == 7
    assert expected_version('W/"7"') == 7
    for bad in ("7", '"x"', '"-1"', ""):
        with pytest.raises(ApiError) as refused:
            expected_version(bad)
        assert refused.value.field == "If-Match"


def _with_headers(*headers: tuple[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_idempotency_key_is_printable_ascii_of_at_most_200_characters() -> None:
    assert idempotency_key(_with_headers()) is None
    assert idempotency_key(_with_headers(("Idempotency-Key", "order-42/a"))) == "order-42/a"
    assert idempotency_key(_with_headers(("Idempotency-Key", "k" * 200))) == "k" * 200
    for bad in ("", "has space", "k" * 201, "caf\xe9"):
        with pytest.raises(ApiError) as refused:
            idempotency_key(_with_headers(("Idempotency-Key", bad)))
        assert refused.value.status == 422
        assert refused.value.field == "Idempotency-Key"
        assert "printable ASCII" in refused.value.message


def test_if_match_header_is_at_most_20_characters() -> None:
    assert if_match(_with_headers()) is None
    assert if_match(_with_headers(("If-Match", '"3"'))) == '"3"'
    with pytest.raises(ApiError) as refused:
        if_match(_with_headers(("If-Match", '"' + "1" * 20 + '"')))
    assert refused.value.field == "If-Match"


def test_rate_limiter_allows_the_burst_then_says_how_long_to_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # another principal is not held back
    now[0] += 0.5
    assert limiter.take("a") == 0.0


def test_subject_of_takes_the_first_line_shortened() -> None:
    assert subject_of("\n  Router down \nmore") == "Router down"
    long = subject_of("x" * 500)
    assert len(long) == SUBJECT_CHARS
    assert long.endswith("…")


def test_route_literals_match_the_report_definitions() -> None:
    assert set(typing.get_args(RepeatBy)) == set(REPEAT_ISSUES)
    assert tuple(typing.get_args(FollowUpKind)) == FOLLOW_UP_KINDS
