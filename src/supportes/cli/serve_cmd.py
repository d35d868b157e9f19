"""``supportes serve``: run the writer and projector until SIGINT/SIGTERM, then exit 0."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from types import FrameType

from supportes.consumers.projector import Projector
from supportes.consumers.writer import Writer
from supportes.logs import get_logger
from supportes.settings import Settings
from supportes.stack.kafka_admin import require_broker

log = get_logger("serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    parser = subparsers.add_parser("serve", help="run the writer and the projector until stopped")
    parser.add_argument("--writer", action="store_true", help="run the command writer")
    parser.add_argument("--projector", action="store_true", help="run the projector")
    parser.add_argument(
        "--group-id",
        default="supportes-writer",
        help="writer consumer group (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the services (both unless one is named) until SIGINT/SIGTERM; the batch in hand is
    committed (or its transaction aborted) before exiting 0."""
    require_broker(settings)
    both = not (args.writer or args.projector)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    services: list[threading.Thread] = []
    failures: list[BaseException] = []

    def guard(target: Callable[[threading.Event], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target(stop)
            except BaseException as exc:  # one service failing stops the other one too
                failures.append(exc)
                log.exception("service failed")
                stop.set()

        return body

    if args.writer or both:
        writer = Writer(settings, group_id=args.group_id)
        services.append(threading.Thread(target=guard(writer.run), name="writer"))
    if args.projector or both:
        projector = Projector(settings)
        services.append(threading.Thread(target=guard(projector.run), name="projector"))
    for service in services:
        service.start()
    while any(s.is_alive() for s in services):
        for service in services:
            service.join(timeout=0.5)
    return 1 if failures else 0
