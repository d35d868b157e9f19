"""``supportes faults check``: judge what a fault-campaign run left on the configured prefix;
``supportes faults campaign`` runs the campaign (:mod:`~supportes.cli.campaign_cmd`).

Exit 0 when every anomaly count is 0, 1 otherwise (1 also for infrastructure errors).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TypeAlias

from supportes.cli import campaign_cmd
from supportes.cli.output import fail_line, print_json, print_table
from supportes.db.connect import connect_as
from supportes.faults.analysis import analyse
from supportes.faults.model import TITLES, CheckReport
from supportes.faults.projections import compare_checksums, database_checksums, table_checksums
from supportes.faults.reader import load_submitted, read_snapshot
from supportes.logs import get_logger
from supportes.settings import PgComponent, Settings

EXIT_ANOMALIES = 1
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
log = get_logger("faults")


def register(subparsers: Subparsers) -> None:
    """Add the ``faults`` verb and its ``check`` action."""
    parser = subparsers.add_parser(
        "faults", help="fault campaign: run it, or check a log for anomalies"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="lost, doubled, aborted or torn writes; versions; index; open transactions "
        "(exit 1 when any)",
    )
    check.add_argument(
        "--submitted",
        type=Path,
        metavar="FILE",
        help="JSON lines of the command ids a workload submitted (strings or {command_id})",
    )
    check.add_argument(
        "--against-dsn",
        metavar="DSN",
        help="compare every proj.* table with this database's (a fresh rebuild of the log)",
    )
    check.add_argument(
        "--open-wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long an open transaction may take to end before it counts (default 10)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    campaign = actions.add_parser(
        "campaign",
        help="the fault campaign on a deployment of its own: workload, faults, checker "
        "(exit 1 on any anomaly)",
    )
    campaign_cmd.add_arguments(campaign)
    parser.set_defaults(handler=_dispatch)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    return campaign_cmd.run(args, settings) if args.action == "campaign" else run(args, settings)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read, analyse, print; exit 1 when any anomaly was found."""
    submitted = load_submitted(args.submitted) if args.submitted else []
    snapshot = read_snapshot(settings, submitted=submitted, open_wait_s=args.open_wait)
    if args.against_dsn:
        conn = connect_as(settings, PgComponent.OWNER)
        try:
            live = table_checksums(conn)
        finally:
            conn.close()
        differences = compare_checksums(live, database_checksums(args.against_dsn))
        snapshot = replace(snapshot, projection_differences=differences)
    report = analyse(snapshot)
    log.info(
        "faults check finished",
        ok=report.ok,
        **{name: f.count for name, f in report.findings.items()},
    )
    if args.json:
        print_json(report.as_dict())
    else:
        _print(report)
    if report.ok:
        return 0
    fail_line(f"{sum(f.count for f in report.findings.values())} anomalies")
    return EXIT_ANOMALIES


def _print(report: CheckReport) -> None:
    rows = [
        {"class": name, "count": f.count, "what": TITLES[name]}
        for name, f in report.findings.items()
    ]
    print_table(rows, ["class", "count", "what"])
    examples = [
        {"class": name, "example": _brief(example)}
        for name, f in report.findings.items()
        for example in f.examples
    ]
    if examples:
        print()
        print_table(examples, ["class", "example"])
    print()
    print(", ".join(f"{name} {value}" for name, value in report.totals.items()))


def _brief(example: dict[str, object]) -> str:
    return " ".join(f"{key}={value}" for key, value in example.items())
