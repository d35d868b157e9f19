"""``supportes demo [--cases N]``: load realistic demo traffic through a running writer, once."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from supportes.cli.output import print_json, print_table
from supportes.errors import UsageError
from supportes.ops.demo import DemoProgress, DemoSummary, load_demo
from supportes.ops.demo_plan import DEFAULT_CASES, DEMO_SEED
from supportes.settings import Settings

EXIT_TIMEOUT = 5
MAX_CASES = 100_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` verb."""
    parser = subparsers.add_parser(
        "demo",
        help="load a realistic demo data set through the running writer (once)",
        description="Submit the lifecycles of N cases of the last two weeks (returning "
        "customers, reopenings, escalations, callbacks, root causes with preventive actions "
        "and recurrences, known answers, satisfaction scores) to the writer of `supportes "
        "serve`, then wait for the projections. Running it again sends nothing.",
    )
    parser.add_argument(
        "--cases", type=int, default=DEFAULT_CASES, help="cases in the set (default %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        help="another seed, another set (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a writer's first answer (default %(default)s)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the projections to catch up (default %(default)s; exit 5)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load the set, print the summary (and what to try next); exit 5 when projections lag."""
    if not 1 <= args.cases <= MAX_CASES:
        raise UsageError(f"--cases must be between 1 and {MAX_CASES}")
    summary = load_demo(
        settings,
        cases=args.cases,
        seed=args.seed,
        progress=ProgressLine(sys.stderr),
        answer_timeout_s=args.timeout,
        catch_up_timeout_s=args.wait_timeout,
    )
    if args.json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)
    if not summary.caught_up:
        print(
            f"supportes: error: projections did not catch up within {args.wait_timeout:g}s "
            "(is the projector of `supportes serve` running?)",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    return 0


class ProgressLine:
    """Progress on stderr: one rewritten line on a terminal, a line every 2 s otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last = 0.0

    def __call__(self, progress: DemoProgress) -> None:
        done = progress.answered == progress.total
        now = time.monotonic()
        if not (self.tty or done or now - self._last >= 2.0):
            return
        self._last = now
        line = (
            f"demo: sent {progress.sent}/{progress.total}, answered {progress.answered} "
            f"({progress.percent:.0f}%), {progress.commands_per_s:,.0f} commands/s"
        )
        if self.tty:
            self.out.write("\r" + line + ("\n" if done else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def _print_summary(summary: DemoSummary) -> None:
    window = f"{summary.window_start:%Y-%m-%d %H:%M} .. {summary.window_end:%Y-%m-%d %H:%M} UTC"
    if summary.sent == 0:
        print(f"demo data set already loaded, nothing sent ({window})")
    else:
        print(f"demo data set loaded ({window})")
    rows = [
        ("commands sent", summary.sent),
        ("accepted", summary.accepted),
        ("rejected", summary.rejected),
        ("already loaded", summary.already_loaded),
        ("cases", summary.cases),
        ("root causes", summary.root_causes),
        ("seconds", f"{summary.seconds:.1f}"),
    ]
    print_table([{"item": k, "value": v} for k, v in rows], ["item", "value"])
    print("\nTry next:")
    for command in (
        f"supportes case history {summary.example_case_id}",
        "supportes report repeat-issues",
        "supportes queue follow-ups",
    ):
        print(f"  {command}")
