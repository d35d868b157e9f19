"""``supportes audit responsibility``: the auditor's verbs."""

from __future__ import annotations

import argparse

from supportes.cli import audit_responsibility
from supportes.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``audit`` verb."""
    parser = subparsers.add_parser("audit", help="responsibility trail and log verification")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    audit_responsibility.add_parser(actions)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    return audit_responsibility.run(args, settings)
