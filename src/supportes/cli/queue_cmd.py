"""``supportes queue follow-ups``: the work that is due, most overdue first."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from supportes.cli.arguments import parse_time, positive_int
from supportes.cli.output import print_json, print_table
from supportes.errors import UsageError
from supportes.ops.queries import reading
from supportes.ops.reports import FOLLOW_UP_KINDS, follow_ups_due
from supportes.settings import PgComponent, Settings

COLUMNS = ["due_at", "overdue_by", "kind", "reference", "owner_id", "priority", "detail"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``queue`` verb."""
    parser = subparsers.add_parser("queue", help="work queues")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    follow_ups = actions.add_parser("follow-ups", help="open follow-up items due at a time")
    follow_ups.add_argument("--now", metavar="TIME", help="list what is due at TIME (default: now)")
    follow_ups.add_argument(
        "--kind", metavar="KIND", help=f"only one kind: {', '.join(FOLLOW_UP_KINDS)}"
    )
    follow_ups.add_argument("--owner", metavar="ID", help="only items owned by ID (agent:...)")
    follow_ups.add_argument("--limit", default="100", help="rows to show (default: %(default)s)")
    follow_ups.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List the due items."""
    now = parse_time(args.now, "--now") or datetime.now(UTC)
    if args.kind is not None and args.kind not in FOLLOW_UP_KINDS:
        kinds = ", ".join(FOLLOW_UP_KINDS)
        raise UsageError(f"--kind: unknown kind {args.kind!r} (one of {kinds})")
    limit = positive_int(args.limit, "--limit")
    with reading(settings, PgComponent.ANALYTICS) as conn:
        rows = follow_ups_due(conn, now, args.kind, args.owner, limit)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        row["overdue_by"] = _duration(row["overdue_seconds"])
    print_table(rows, COLUMNS)
    print(f"{len(rows)} item(s) due at {now.isoformat(timespec='seconds')}")
    return 0


def _duration(seconds: int) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d{hours:02d}h{minutes:02d}m" if days else f"{hours}h{minutes:02d}m"
