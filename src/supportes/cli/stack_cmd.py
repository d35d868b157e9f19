"""``supportes stack up|down|status``."""

from __future__ import annotations

import argparse

from supportes.cli.output import print_json, print_table
from supportes.settings import Settings
from supportes.stack import manager

EXIT_DOWN = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` verb."""
    parser = subparsers.add_parser("stack", help="local Kafka + PostgreSQL: up, down, status")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the stack to the wanted state, or report it; status exits 1 when a required part
    (Kafka, PostgreSQL) is down; a stopped background serve is reported, not a failure."""
    if args.action == "up":
        changes = manager.up(settings)
        _report(args, changes, "stack is up; nothing to do")
    elif args.action == "down":
        changes = manager.down(settings)
        _report(args, changes, "stack is down; nothing to do")
        return 0
    components = manager.status(settings)
    if args.json:
        print_json([c.as_dict() for c in components])
    else:
        print_table(
            [{**c.as_dict(), "state": c.state} for c in components],
            ["component", "state", "managed", "address", "detail"],
        )
    return 0 if all(c.running for c in components if c.required) else EXIT_DOWN


def _report(args: argparse.Namespace, changes: list[str], nothing: str) -> None:
    if args.json:
        print_json({"changes": changes})
    else:
        for line in changes or [nothing]:
            print(line)
