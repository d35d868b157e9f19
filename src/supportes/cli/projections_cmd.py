"""``supportes projections status|wait|rebuild|parked|retry-parked``."""

from __future__ import annotations

import argparse

from supportes.cli.arguments import positive_int
from supportes.cli.output import print_json, print_table
from supportes.ops.parked import retry_parked
from supportes.ops.parked_records import parked_counts, parked_records
from supportes.ops.projection_status import projection_status, wait_until_caught_up
from supportes.ops.rebuild import rebuild, select_projections
from supportes.settings import Settings

EXIT_TIMEOUT = 5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``projections`` verb."""
    parser = subparsers.add_parser("projections", help="projection progress, wait, rebuild")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="stored offset, end offset, lag, parked counts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--by-partition", action="store_true", help="one row per partition")
    wait = actions.add_parser("wait", help="block until every projection reached the log's end")
    wait.add_argument("--timeout", type=float, default=60.0, help="seconds (exit 5 on timeout)")
    wait.add_argument("--json", action="store_true", help="machine-readable output")
    again = actions.add_parser("rebuild", help="replay the log into fresh tables, swap them in")
    again.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")
    again.add_argument(
        "--workers",
        default="1",
        help="processes replaying disjoint sets of partitions (default 1; at most the partitions)",
    )
    parked = actions.add_parser(
        "parked", help="records set aside by the projections and the event index, with reasons"
    )
    parked.add_argument("--json", action="store_true", help="machine-readable output")
    parked.add_argument("--limit", default="1000", help="most rows per store (default 1000)")
    retry = actions.add_parser("retry-parked", help="apply parked events again (after a fix)")
    retry.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    if args.action == "status":
        return _status(args, settings)
    if args.action == "wait":
        caught_up = wait_until_caught_up(settings, args.timeout)
        if args.json:
            print_json({"caught_up": caught_up})
        else:
            print("caught up" if caught_up else f"not caught up after {args.timeout:g}s")
        return 0 if caught_up else EXIT_TIMEOUT
    if args.action == "parked":
        limit = positive_int(args.limit, "--limit")
        rows = [r.as_dict() for r in parked_records(settings, limit=limit)]
        if args.json:
            print_json(rows)
        else:
            print_table(
                rows,
                ["store", "partition", "offset", "aggregate_id", "version", "kind", "reason"],
            )
        return 0
    if args.action == "rebuild":
        report = rebuild(settings, args.names, workers=positive_int(args.workers, "--workers"))
        print(
            f"rebuilt {', '.join(report.projections)}: {report.events} events in "
            f"{report.seconds:.1f}s ({report.events_per_second:,.0f} events/s), swapped in"
        )
        return 0
    names = [p.name for p in select_projections(args.names)]
    outcome = retry_parked(settings, names)
    print(
        f"retried {outcome.retried} parked events: {outcome.applied} applied, "
        f"{outcome.still_parked} still parked"
    )
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = projection_status(settings)
    if args.json:
        print_json([r.as_dict() for r in rows])
        return 0
    if args.by_partition:
        print_table(
            [r.as_dict() for r in rows],
            ["projection", "partition", "stored_offset", "end_offset", "lag", "parked"],
        )
        return 0
    totals: dict[str, dict[str, object]] = {}
    for row in rows:
        total = totals.setdefault(
            row.projection, {"projection": row.projection, "lag": 0, "parked": 0, "partitions": 0}
        )
        total["lag"] = int(total["lag"]) + row.lag  # type: ignore[call-overload]
        total["parked"] = int(total["parked"]) + row.parked  # type: ignore[call-overload]
        total["partitions"] = int(total["partitions"]) + 1  # type: ignore[call-overload]
    print_table(list(totals.values()), ["projection", "partitions", "lag", "parked"])
    kept_raw = parked_counts(settings)["event_index"]
    if kept_raw:
        print(
            f"event index: {kept_raw} log record(s) kept as raw bytes"
            " (supportes projections parked)"
        )
    return 0
