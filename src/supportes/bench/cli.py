"""``python -m supportes.bench``: run the registered benchmarks and print one table."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from supportes.bench import suite  # noqa: F401  (registers the benchmarks)
from supportes.bench.machine import machine_info
from supportes.bench.registry import REGISTRY, Registry
from supportes.bench.results import Result, format_pairs, format_table
from supportes.errors import ConfigError
from supportes.logs import configure_logging, get_logger
from supportes.settings import load_settings


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    only: list[str]
    scale: float
    json: bool


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def build_parser(registry: Registry = REGISTRY) -> argparse.ArgumentParser:
    """The argument parser; ``--only`` accepts the registered names."""
    names = registry.names()
    parser = argparse.ArgumentParser(
        prog="python -m supportes.bench",
        description="Benchmarks of the bare building blocks on this machine, printed as a table.",
        epilog="benchmarks: " + ", ".join(names),
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=names,
        default=[],
        metavar="NAME",
        help="run only these benchmarks (repeatable)",
    )
    parser.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        help="multiply message/row counts and durations (default 1.0; 0.1 for a quick run)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def parse_args(argv: Sequence[str] | None, registry: Registry = REGISTRY) -> Options:
    """Parse the command line (exits 2 on usage errors, like argparse)."""
    ns = build_parser(registry).parse_args(argv)
    return Options(only=list(dict.fromkeys(ns.only)), scale=ns.scale, json=ns.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; exit 0, or 1 when a benchmark failed."""
    options = parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level, settings.log_format)
    log = get_logger("bench")
    machine = machine_info(settings)
    machine.append(("scale", f"{options.scale:g}"))
    results: list[Result] = []
    failures: list[dict[str, str]] = []
    for bench in REGISTRY.select(options.only):
        log.info("benchmark starts", benchmark=bench.name, scale=options.scale)
        started = time.monotonic()
        try:
            results.append(bench.run(settings, options.scale))
        except Exception as exc:
            log.error(
                "benchmark failed", benchmark=bench.name, error=f"{type(exc).__name__}: {exc}"
            )
            failures.append({"benchmark": bench.name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        log.info(
            "benchmark done", benchmark=bench.name, seconds=round(time.monotonic() - started, 1)
        )
    if options.json:
        document = {
            "machine": dict(machine),
            "results": [r.to_json() for r in results],
            "failures": failures,
        }
        print(json.dumps(document, indent=2))
    else:
        rows = [row for r in results for row in r.rows()]
        rows += [(f["benchmark"], "FAILED", "", "", f["error"]) for f in failures]
        print(format_pairs("machine", machine))
        print()
        print(format_table(rows))
    return 1 if failures else 0
