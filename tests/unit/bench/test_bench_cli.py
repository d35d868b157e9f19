"""The benchmark registry and command-line parsing (pure: nothing runs)."""

from __future__ import annotations

import pytest

from supportes.bench.cli import parse_args
from supportes.bench.registry import REGISTRY, Registry
from supportes.bench.results import Result
from supportes.settings import Settings

EXPECTED = [
    "kafka-ctp-ceiling",
    "kafka-read-ceiling",
    "pg-copy-ceiling",
    "kafka-latency-ceiling",
    "writer-throughput",
    "writer-metrics",
    "writer-replication",
    "writer-scaling",
    "writer-latency",
    "peer-eventsourcing",
    "projection-replay",
    "projector-catch-up",
    "api-read",
    "api-submit-latency",
    "console-pages",
]


def _fake(name: str) -> Result:
    return Result(name)


def _registry() -> Registry:
    registry = Registry()

    @registry.register("b-first", "first")
    def first(settings: Settings, scale: float) -> Result:
        return _fake("b-first")

    @registry.register("a-second", "second")
    def second(settings: Settings, scale: float) -> Result:
        return _fake("a-second")

    return registry


def test_the_suite_registers_the_ceilings_in_order() -> None:
    assert REGISTRY.names() == EXPECTED


def test_registry_keeps_registration_order_and_selects() -> None:
    registry = _registry()
    assert registry.names() == ["b-first", "a-second"]
    assert [b.name for b in registry.select(None)] == ["b-first", "a-second"]
    assert [b.name for b in registry.select(["a-second", "b-first"])] == ["b-first", "a-second"]
    assert registry.get("a-second").summary == "second"


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    registry = _registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("b-first", "again")(lambda settings, scale: _fake("x"))
    with pytest.raises(KeyError, match="nope"):
        registry.select(["nope"])


def test_defaults() -> None:
    options = parse_args([])
    assert options.only == []
    assert options.scale == 1.0
    assert options.json is False


def test_only_scale_and_json() -> None:
    only = ["--only", "pg-copy-ceiling", "--only", "kafka-read-ceiling", "pg-copy-ceiling"]
    options = parse_args([*only, "--scale", "0.1", "--json"])
    assert options.only == ["pg-copy-ceiling", "kafka-read-ceiling"]
    assert options.scale == 0.1
    assert options.json is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "no-such-benchmark"],
        ["--scale", "0"],
        ["--scale", "-1"],
        ["--scale", "abc"],
        ["--scale", "nan"],
        ["--scale", "inf"],
        ["--unknown"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_parse_args_uses_the_given_registry() -> None:
    options = parse_args(["--only", "a-second"], _registry())
    assert options.only == ["a-second"]
