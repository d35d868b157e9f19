"""``supportes serve``: run the services until SIGINT/SIGTERM, then stop cleanly (exit 0)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from supportes.consumers.writer import Writer
from supportes.logs import get_logger
from supportes.settings import Settings
from supportes.stack.kafka_admin import require_broker

log = get_logger("serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    parser = subparsers.add_parser("serve", help="run the command writer until stopped")
    parser.add_argument("--writer", action="store_true", help="run the command writer")
    parser.add_argument(
        "--group-id",
        default="supportes-writer",
        help="writer consumer group (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the writer; a signal finishes (or aborts) the open transaction, then exits 0."""
    require_broker(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Writer(settings, group_id=args.group_id).run(stop)
    return 0
