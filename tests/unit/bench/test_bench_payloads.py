"""Synthetic message bodies have the sizes and shapes the benchmarks claim (pure)."""

from __future__ import annotations

import json
import uuid
import zlib

import pytest

from supportes.bench import payloads
from supportes.bench.machine import cpu_model, mem_total_gib
from supportes.bench.pg_ceilings import timeline_lines
from supportes.db.copy import escape


def test_command_is_a_450_byte_envelope() -> None:
    aggregate = str(uuid.uuid4())
    body = payloads.command(aggregate)
    assert len(body) == 450
    parsed = json.loads(body)
    assert parsed["aggregate_id"] == aggregate
    assert parsed["type"] == "RecordContact"
    assert parsed["actor"]["kind"] == "customer"


@pytest.mark.parametrize("size", [310, 450, 1000])
def test_command_sizes(size: int) -> None:
    assert len(payloads.command(str(uuid.uuid4()), size=size)) == size


def test_too_small_size_is_refused() -> None:
    with pytest.raises(ValueError, match="without text"):
        payloads.command(str(uuid.uuid4()), size=100)


def test_transform_builds_900_byte_events_and_small_results() -> None:
    transform = payloads.Transform()
    for _ in range(3):
        command = payloads.command(str(uuid.uuid4()))
        event, result = transform(command)
        assert len(event) == 900
        assert 230 <= len(result) <= 270
        parsed_command = json.loads(command)
        parsed_event = json.loads(event)
        assert parsed_event["command_id"] == parsed_command["command_id"]
        assert len(parsed_event["hash"]) == 64
        assert json.loads(result)["events"][0]["event_id"] == parsed_event["event_id"]


def test_text_is_not_trivially_compressible() -> None:
    transform = payloads.Transform()
    events = b"".join(transform(payloads.command(str(uuid.uuid4())))[0] for _ in range(200))
    ratio = len(events) / len(zlib.compress(events, 9))
    assert 1.5 < ratio < 6  # JSON-like, not a repeated filler


def test_pad_text_has_exact_length() -> None:
    assert payloads.pad_text(0) == ""
    assert len(payloads.pad_text(1)) == 1
    assert len(payloads.pad_text(2500)) == 2500


def test_copy_lines_have_nine_fields_and_escape() -> None:
    lines = list(timeline_lines(20, payload_size=300))
    assert len(lines) == 20
    for line in lines:
        assert line.endswith("\n")
        assert len(line.rstrip("\n").split("\t")) == 9
    versions = [int(line.split("\t")[1]) for line in lines]
    assert versions[:10] == list(range(1, 11))
    assert escape("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"


def test_machine_text_parsers() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n"
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    assert cpu_model("") == "unknown"
    meminfo = "MemTotal:       24683520 kB\nMemFree: 1 kB\n"
    assert mem_total_gib(meminfo) == pytest.approx(23.54, 0.01)
    assert mem_total_gib("") is None
