"""``supportes faults campaign``: the fault campaign on a deployment of its own (issue 17).

Prints the campaign's table: the faults with their times, the commands by path and outcome, and
every anomaly class with its count. Exit 0 when every count is 0, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from supportes.cli.output import fail_line, print_json, print_table
from supportes.errors import UsageError
from supportes.faults.campaign import CampaignConfig, CampaignReport, run_campaign
from supportes.settings import Settings

EXIT_ANOMALIES = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``campaign`` action's options."""
    parser.add_argument(
        "--short", action="store_true", help="the short form run by make test (~3 minutes)"
    )
    parser.add_argument("--commands", type=int, metavar="N", help="commands in all")
    parser.add_argument("--clients", type=int, metavar="N", help="concurrent clients (>= 8)")
    parser.add_argument(
        "--spacing", type=float, metavar="SECONDS", help="seconds between fault starts"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="keep the deployment's state and logs here (default: a temporary directory)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def config_of(args: argparse.Namespace) -> CampaignConfig:
    """The campaign asked for (short or full, then the options given)."""
    config = CampaignConfig.short() if args.short else CampaignConfig()
    changes: dict[str, Any] = {}
    if args.commands is not None:
        changes["commands"] = args.commands
    if args.clients is not None:
        if args.clients < 8:
            raise UsageError("--clients: at least 8 (the campaign's concurrency)")
        changes["clients"] = args.clients
    if args.spacing is not None:
        changes["spacing_s"] = args.spacing
    return CampaignConfig(**{**config.__dict__, **changes})


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the campaign; print its table; exit 1 on any anomaly."""
    report = run_campaign(settings, config_of(args), args.workdir)
    if args.json:
        print_json(as_dict(report))
    else:
        print_report(report)
    if report.ok:
        return 0
    fail_line("the campaign found anomalies")
    return EXIT_ANOMALIES


def as_dict(report: CampaignReport) -> dict[str, Any]:
    """The report as JSON."""
    return {
        "ok": report.ok,
        "seconds": round(report.seconds, 1),
        "config": report.config.__dict__,
        "faults": report.fault_rows(),
        "commands": report.command_rows(),
        "anomalies": report.anomaly_rows(),
        "rebuild_differences": report.rebuilt_differences,
    }


def print_report(report: CampaignReport) -> None:
    """The campaign's three tables."""
    config = report.config
    print(
        f"fault campaign: {len(report.workload.submitted):,} commands from {config.clients} "
        f"clients, {len(report.injections)} faults, {report.seconds:.0f} s"
    )
    print()
    print_table(
        report.fault_rows(),
        ["fault", "target", "at_s", "healed_after_s", "next_accepted_after_s"],
    )
    print()
    print_table(report.command_rows(), ["via", "outcome", "commands"])
    print()
    print_table(report.anomaly_rows(), ["class", "count", "what"])
    for difference in report.rebuilt_differences:
        print(f"differs from a rebuild: {difference}")
