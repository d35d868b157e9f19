"""The benchmark's HTTP/1.1 client: the request bytes it sends and the response heads it reads,
and the read-back phases of a submitted command (no I/O)."""

from __future__ import annotations

import pytest

from supportes.bench.http_load import parse_head, post_request
from supportes.bench.submit_phases import Timed, phases, summary


def test_a_post_carries_its_length_headers_and_body() -> None:
    body = b'{"type":"Acknowledge"}'
    wire = post_request("127.0.0.1:8000", "/v1/commands", body, {"Authorization": "Bearer t"})
    head, _, sent = wire.wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/commands HTTP/1.1"
    assert b"Host: 127.0.0.1:8000" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert b"Authorization: Bearer t" in lines
    assert sent == body


def test_reads_status_length_and_close() -> None:
    head = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n"
    assert parse_head(head) == (201, 42, False)
    closing = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert parse_head(closing) == (503, 0, True)


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", "not an HTTP/1.1 response"),
        (b"garbage\r\n\r\n", "not an HTTP/1.1 response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "chunked"),
    ],
)
def test_refuses_what_it_cannot_read(head: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_head(head)


def test_phases_split_send_to_answer_by_the_record_timestamps() -> None:
    timed = [Timed("a", 10.000, 10.100), Timed("b", 20.000, 20.050), Timed("lost", 30.0, 31.0)]
    on_log = {"a": 10.010, "b": 20.002}
    decided = {"a": 10.060, "b": 20.030}
    split = phases(timed, on_log, decided)
    assert [round(x, 3) for x in split["to the log"]] == [0.010, 0.002]
    assert [round(x, 3) for x in split["writer"]] == [0.050, 0.028]
    assert [round(x, 3) for x in split["to the answer"]] == [0.040, 0.020]
    for values in split.values():  # each command's phases add up to its latency
        assert len(values) == 2
    total_a = sum(split[p][0] for p in split)
    assert total_a == pytest.approx(0.100)
    assert set(summary(split)) == set(split)
    assert summary({"writer": []}) == {}
