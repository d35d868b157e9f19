"""``supportes audit ACTION``: what auditors ask of the log.

One ``_add_<action>`` (arguments) and one ``_<action>`` (run) per action, joined in ``_ACTIONS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from supportes.cli import audit_responsibility
from supportes.cli.output import fail_line, print_json, print_table
from supportes.observability.audit_textfile import write_audit_metrics
from supportes.ops.audit_verify import AuditReport, verify_audit
from supportes.settings import Settings

EXIT_BROKEN = 4
SHOWN_FAILURES = 20

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Subparsers) -> None:
    """Add the ``audit`` verb and its actions."""
    parser = subparsers.add_parser("audit", help="responsibility at a time; verify the audit trail")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    audit_responsibility.add_parser(actions)
    _add_verify(actions)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    return _ACTIONS[args.action](args, settings)


def _add_verify(actions: Subparsers) -> None:
    verify = actions.add_parser(
        "verify",
        help="re-read the log: hash chains, versions, index consistency (exit 4 when broken)",
    )
    verify.add_argument("--case", metavar="ID", help="only this case (or root cause) id")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="check the partitions in N processes (1..partitions; the same report, sooner);"
        " default: one per core for a log of 200,000 offsets or more, else 1",
    )
    verify.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="also write the outcome as Prometheus metrics (node_exporter textfile format)",
    )


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    report = verify_audit(settings, args.case, workers=args.workers)
    if args.metrics_file is not None:
        write_audit_metrics(args.metrics_file, report)
    if args.json:
        print_json(report.as_dict())
    else:
        _print_verify(report)
    first = report.first_failure
    if first is None:
        return 0
    more = report.failures_total - 1
    suffix = f" (and {more} more failure{'s' if more != 1 else ''})" if more else ""
    fail_line(f"{first.describe()}{suffix}")
    return EXIT_BROKEN


def _print_verify(report: AuditReport) -> None:
    rows = [
        {"check": name, "checked": count.checked, "failed": count.failed}
        for name, count in report.checks.items()
    ]
    print_table(rows, ["check", "checked", "failed"])
    aggregates = report.aggregates
    scope = f"case {report.case_id}" if report.case_id else f"{aggregates['total']} aggregates"
    partitions = ",".join(map(str, report.partitions))
    verdict = "OK" if report.ok else f"{report.failures_total} FAILED"
    print(
        f"\n{scope} ({aggregates['cases']} cases, {aggregates['root_causes']} root causes)\n"
        f"{report.events} events on {report.topic} (partitions {partitions}), "
        f"{report.index_rows} index rows, {report.unindexed} not indexed yet\n"
        f"{verdict} in {report.seconds:.1f}s ({report.events_per_second:,.0f} events/s)"
    )
    if report.failures:
        print()
        print_table(
            [f.as_dict() for f in report.failures[:SHOWN_FAILURES]],
            ["check", "aggregate_id", "version", "partition", "offset", "reason"],
        )
        hidden = report.failures_total - min(SHOWN_FAILURES, len(report.failures))
        if hidden:
            print(f"... {hidden} more (see --json)")


_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "responsibility": audit_responsibility.run,
    "verify": _verify,
}
