"""``supportes report repeat-issues|metrics``: the analytics tables, as people read them."""

from __future__ import annotations

import argparse

from supportes.cli.arguments import parse_day, positive_int
from supportes.cli.output import print_json, print_table
from supportes.errors import UsageError
from supportes.ops.queries import reading
from supportes.ops.reports import (
    METRICS_COLUMNS,
    REPEAT_ISSUES,
    daily_metrics,
    metrics_totals,
    repeat_issues,
)
from supportes.settings import PgComponent, Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` verb."""
    parser = subparsers.add_parser("report", help="repeat issues and service metrics")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    repeat = actions.add_parser("repeat-issues", help="what keeps coming back, and why")
    repeat.add_argument(
        "--by",
        default="root-cause",
        metavar="GROUPING",
        help=f"one of {', '.join(REPEAT_ISSUES)} (default: %(default)s)",
    )
    repeat.add_argument("--limit", default="20", help="rows to show (default: %(default)s)")
    repeat.add_argument("--json", action="store_true", help="machine-readable output (all columns)")
    metrics = actions.add_parser("metrics", help="daily service metrics and their totals")
    metrics.add_argument("--from", dest="first", metavar="DAY", help="first UTC day (YYYY-MM-DD)")
    metrics.add_argument("--to", dest="last", metavar="DAY", help="last UTC day (inclusive)")
    metrics.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    if args.action == "repeat-issues":
        if args.by not in REPEAT_ISSUES:
            groupings = ", ".join(REPEAT_ISSUES)
            raise UsageError(f"--by: unknown grouping {args.by!r} (one of {groupings})")
        limit = positive_int(args.limit, "--limit")
        with reading(settings, PgComponent.ANALYTICS) as conn:
            rows = repeat_issues(conn, args.by, limit)
        if args.json:
            print_json(rows)
        else:
            print_table(rows, REPEAT_ISSUES[args.by].columns)
        return 0
    first, last = parse_day(args.first, "--from"), parse_day(args.last, "--to")
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    with reading(settings, PgComponent.ANALYTICS) as conn:
        days = daily_metrics(conn, first, last)
    totals = metrics_totals(days)
    if args.json:
        print_json({"days": days, "totals": totals})
    else:
        print_table([*days, totals], METRICS_COLUMNS)
    return 0
