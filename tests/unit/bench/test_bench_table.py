"""Rendering benchmark results: value formatting, the aligned table, JSON (pure)."""

from __future__ import annotations

import json

import pytest

from supportes.bench.results import Result, format_pairs, format_table, format_value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (100000.0, "100,000"),
        (12345.678, "12,346"),
        (123.4, "123"),
        (42.25, "42.2"),
        (3.14159, "3.14"),
        (0.0, "0.000"),
        (0.01234, "0.012"),
        (500.0, "500"),
        (-1500.0, "-1,500"),
        (float("nan"), "nan"),
    ],
)
def test_format_value(value: float, shown: str) -> None:
    assert format_value(value) == shown


def _result() -> Result:
    result = Result("kafka-read-ceiling", params={"messages": 10})
    result.add("messages", 15453.2, "msg/s", "read_committed")
    result.add("values", 13.9, "MB/s")
    return result


def test_table_is_aligned_with_value_column_right_aligned() -> None:
    other = Result("pg-copy-ceiling")
    other.add("rows (one COPY)", 100939, "rows/s", "logged")
    text = format_table([*_result().rows(), *other.rows()])
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "benchmark"
    assert set(lines[1]) <= {"-", "+"}
    # every separator sits at the same column on every line
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in lines if "|" in line}
    assert len(bars) == 1
    value_cells = [line.split(" | ")[2] for line in lines[2:]]
    assert value_cells == [" 15,453", "   13.9", "100,939"]


def test_repeated_benchmark_names_are_blank() -> None:
    lines = format_table(_result().rows()).splitlines()
    assert lines[2].startswith("kafka-read-ceiling")
    assert lines[3].startswith(" " * len("kafka-read-ceiling"))


def test_no_trailing_spaces() -> None:
    for line in format_table(_result().rows()).splitlines():
        assert line == line.rstrip()


def test_row_of_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="cells"):
        format_table([("only", "three", "cells")])


def test_result_lookup_and_json() -> None:
    result = _result()
    assert result.value("values") == 13.9
    with pytest.raises(KeyError):
        result.value("nope")
    document = json.loads(json.dumps(result.to_json()))
    assert document["benchmark"] == "kafka-read-ceiling"
    assert document["params"] == {"messages": 10}
    assert document["metrics"][0] == {
        "metric": "messages",
        "value": 15453.2,
        "unit": "msg/s",
        "notes": "read_committed",
    }


def test_format_pairs_aligns_keys() -> None:
    text = format_pairs("machine", [("cpu", "AMD EPYC"), ("kafka broker", "4.3.1")])
    assert text.splitlines() == ["machine", "  cpu           AMD EPYC", "  kafka broker  4.3.1"]
