"""Any failure of a CLI verb ends in one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import argparse
import importlib

import pytest
from kafka.errors import KafkaTimeoutError

from supportes.settings import Settings

cli_main = importlib.import_module("supportes.cli.main")  # the module (the package exports main)


def failing_with(exc: BaseException) -> argparse.ArgumentParser:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        raise exc

    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=handler)
    return parser


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (KafkaTimeoutError("no broker"), "KafkaTimeoutError: no broker"),
        (RuntimeError("a bug\nsecond line"), "internal error: RuntimeError: a bug"),
    ],
)
def test_a_failing_verb_prints_one_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: Exception,
    expected: str,
) -> None:
    monkeypatch.setattr(cli_main, "build_parser", lambda: failing_with(exc))
    # main() configures structlog onto the stderr of the moment: pytest's capture, closed after
    # this test (every later log line would fail on it).
    monkeypatch.setattr(cli_main, "configure_logging", lambda level, format: None)
    monkeypatch.delenv("SUPPORTES_LOG_LEVEL", raising=False)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("supportes: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_projections_parked_refuses_a_limit_below_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_main, "configure_logging", lambda level, format: None)
    assert cli_main.main(["projections", "parked", "--limit", "0"]) == 2
    assert capsys.readouterr().err == "supportes: error: --limit: must be at least 1, got 0\n"
