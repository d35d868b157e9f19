"""``supportes stack up|down|status`` and, for the 3-node Kafka, ``stack kill|pause|resume``."""

from __future__ import annotations

import argparse

from supportes.cli.output import print_json, print_table
from supportes.errors import UsageError
from supportes.settings import Settings
from supportes.stack import kafka_cluster, manager

EXIT_DOWN = 1
NODE_ACTIONS = {
    "kill": kafka_cluster.kill,
    "pause": kafka_cluster.pause,
    "resume": kafka_cluster.resume,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` verb."""
    parser = subparsers.add_parser(
        "stack",
        help="local Kafka + PostgreSQL: up, down, status; kill, pause, resume a Kafka node",
    )
    parser.add_argument("action", choices=["up", "down", "status", *NODE_ACTIONS])
    parser.add_argument(
        "node",
        nargs="?",
        metavar="NODE",
        help="kill, pause, resume: a node of the 3-node Kafka, kafka-1 .. kafka-3 (or 1-3)",
    )
    parser.add_argument(
        "--brokers",
        type=int,
        choices=[1, 3],
        help="local Kafka nodes for this call (default SUPPORTES_KAFKA_BROKERS, 1)",
    )
    parser.add_argument(
        "--kafka-only",
        action="store_true",
        help="only the local Kafka: no PostgreSQL, migrations or key-encryption key",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the stack to the wanted state (``up`` then reports it), act on one Kafka node, or
    report; status exits 1 when a required part (Kafka or one of its nodes, PostgreSQL) is
    down; a paused Kafka node or a stopped background serve is reported, not a failure."""
    if args.brokers is not None:
        settings = settings.with_kafka_brokers(args.brokers)
    if args.action in NODE_ACTIONS:
        if args.node is None:
            raise UsageError(f"stack {args.action} needs NODE (kafka-1, kafka-2 or kafka-3)")
        node_id = kafka_cluster.parse_node(args.node)
        _report(args, [NODE_ACTIONS[args.action](settings, node_id)], "")
        return 0
    if args.node is not None:
        raise UsageError(f"NODE {args.node!r}: only stack kill, pause and resume take a node")
    if args.action == "up":
        changes = manager.up(settings, kafka_only=args.kafka_only)
        _report(args, changes, "stack is up; nothing to do")  # then the status, as below
    elif args.action == "down":
        changes = manager.down(settings, kafka_only=args.kafka_only)
        _report(args, changes, "stack is down; nothing to do")
        return 0
    components = manager.status(settings, kafka_only=args.kafka_only)
    if args.json:
        print_json([c.as_dict() for c in components])
    else:
        print_table(
            [c.as_dict() for c in components],
            ["component", "state", "managed", "address", "detail"],
        )
    return EXIT_DOWN if any(c.failed for c in components) else 0


def _report(args: argparse.Namespace, changes: list[str], nothing: str) -> None:
    if args.json:
        print_json({"changes": changes})
    else:
        for line in changes or [nothing]:
            print(line)
