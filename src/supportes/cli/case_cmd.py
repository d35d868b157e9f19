"""``supportes case show|history``: one case now, its full history, its state at a time."""

from __future__ import annotations

import argparse
from contextlib import closing
from typing import Any

from supportes.cli.arguments import parse_time
from supportes.cli.output import fail_line, print_fields, print_json, print_table
from supportes.ops.case_history import HistoryEntry, load_history, state_as_of
from supportes.ops.case_lookup import case_row, open_follow_ups, resolve_aggregate_id
from supportes.ops.log_check import compare_with_log
from supportes.ops.queries import reading
from supportes.privacy.wiring import event_opener
from supportes.settings import PgComponent, Settings

EXIT_LOG_DIFFERS = 4
TIMELINE_COLUMNS = ["version", "occurred_at", "actor", "type", "summary", "partition", "offset"]
"""``actor`` reads ``customer:42 via integration:mail`` when an integration acted for it."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``case`` verb."""
    parser = subparsers.add_parser("case", help="one case: current view, history, state at T")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the case's current row and open follow-up items")
    show.add_argument("case", metavar="ID", help="case id (UUID) or reference (SR-...)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    history = actions.add_parser("history", help="every event: who, what, when, where in the log")
    history.add_argument("case", metavar="ID", help="case id (UUID) or reference (SR-...)")
    history.add_argument("--as-of", metavar="TIME", help="state and timeline as they were at TIME")
    history.add_argument(
        "--from-log",
        action="store_true",
        help="read each event back from Kafka at its offset; exit 4 on any difference",
    )
    history.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    if args.action == "show":
        return _show(args, settings)
    return _history(args, settings)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with reading(settings) as conn:
        case_id = resolve_aggregate_id(conn, args.case)
        row = case_row(conn, case_id)
        items = open_follow_ups(conn, case_id)
    if args.json:
        print_json({"case": row, "open_follow_ups": items})
        return 0
    print_fields(row)
    print()
    if items:
        print_table(items, ["kind", "due_at", "owner_id", "detail"])
    else:
        print("no open follow-up items")
    return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    at = parse_time(args.as_of, "--as-of")
    opener = event_opener(settings, PgComponent.API)
    with reading(settings) as conn, closing(opener):
        case_id = resolve_aggregate_id(conn, args.case)
        history = load_history(conn, case_id, opener)
    document: dict[str, Any] = {"case_id": str(case_id)}
    shown: list[HistoryEntry] = history
    if at is not None:
        as_of = state_as_of(history, at)
        shown = as_of.entries
        document["as_of"] = at.isoformat()
        document["state"] = as_of.state
    document["events"] = [entry.as_dict() for entry in shown]
    differences = compare_with_log(settings, history) if args.from_log else None
    if differences is not None:
        document["log_check"] = {
            "checked": len(history),
            "differences": [d.as_dict() for d in differences],
        }
    if args.json:
        print_json(document)
    else:
        _print_history(case_id=str(case_id), shown=shown, total=len(history), document=document)
    if differences:
        first = differences[0]
        fail_line(
            f"case {case_id} version {first.version} (partition {first.partition}, offset "
            f"{first.offset}): {first.problem}"
        )
        return EXIT_LOG_DIFFERS
    return 0


def _print_history(
    *, case_id: str, shown: list[HistoryEntry], total: int, document: dict[str, Any]
) -> None:
    if "state" in document:
        print(f"case {case_id} as of {document['as_of']}: {len(shown)} of {total} events")
        print()
        print_fields({k: v for k, v in document["state"].items() if k != "id"})
        print()
    else:
        print(f"case {case_id}: {total} events")
        print()
    print_table([{**e.__dict__, "actor": e.by} for e in shown], TIMELINE_COLUMNS)
    check = document.get("log_check")
    if check is not None:
        print()
        if check["differences"]:
            print_table(check["differences"], ["version", "partition", "offset", "problem"])
        else:
            print(
                f"log check: all {check['checked']} events read back from Kafka at their "
                "offsets match the index, hash chain intact"
            )
