"""``supportes audit responsibility CASE_ID [--at TIME]``: who held the case, and every hand-off."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from supportes.cli.arguments import parse_time
from supportes.cli.output import print_json, print_table
from supportes.ops.case_lookup import resolve_aggregate_id
from supportes.ops.queries import reading
from supportes.ops.responsibility_audit import ROLES, load_trail, responsibility_at
from supportes.settings import Settings

TRAIL_COLUMNS = [
    "from_at", "to_at", "role", "agent_id", "opened_by", "opened_by_event", "closed_by",
    "closed_by_event", "note",
]  # fmt: skip
"""``opened_by``/``closed_by`` read ``actor via integration`` when an integration acted."""


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``responsibility`` action to the ``audit`` verb."""
    parser = actions.add_parser(
        "responsibility", help="who was assignee/responsible/escalation owner at a time"
    )
    parser.add_argument("case", metavar="CASE_ID", help="case id (UUID) or reference (SR-...)")
    parser.add_argument("--at", metavar="TIME", help="the time asked about (default: now)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the holders at the time and the chain of hand-offs."""
    at = parse_time(args.at, "--at") or datetime.now(UTC)
    with reading(settings) as conn:
        case_id = resolve_aggregate_id(conn, args.case)
        trail = load_trail(conn, case_id)
    answer = responsibility_at(case_id, trail, at)
    if args.json:
        print_json(answer.as_dict())
        return 0
    print(f"case {case_id} at {at.isoformat(timespec='seconds')}")
    for role in ROLES:
        held = answer.holders[role]
        print(
            f"  {role:<11} "
            + (
                "-"
                if held is None
                else f"{held.agent_id} (since {held.from_at.isoformat()}, "
                f"by {held.opened_by_text}, {held.opened_by_event})"
            )
        )
    responsible = answer.responsible
    print(
        "  responsible for the case: "
        + ("nobody" if responsible is None else f"{responsible.agent_id} ({responsible.role})")
    )
    print()
    print(f"hand-offs ({len(trail)}):")
    print_table(
        [
            {**i.__dict__, "opened_by": i.opened_by_text, "closed_by": i.closed_by_text}
            for i in trail
        ],
        TRAIL_COLUMNS,
    )
    return 0
