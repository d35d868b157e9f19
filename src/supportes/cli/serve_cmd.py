"""``supportes serve``: run the writer, projector and HTTP API until SIGINT/SIGTERM, then exit 0.

``--detach`` starts the same in the background instead (see :mod:`supportes.stack.serve_process`)
and returns once it is ready; ``supportes stack down`` stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from supportes.consumers.dependencies import HEALTH, first_line
from supportes.consumers.projector import Projector
from supportes.consumers.writer import Writer
from supportes.logs import get_logger
from supportes.messaging.security import Component
from supportes.observability.metrics import describe_process
from supportes.observability.readiness import Readiness, writer_joined
from supportes.observability.server import MetricsServer
from supportes.settings import PgComponent, Settings
from supportes.stack import serve_health, serve_process
from supportes.stack.kafka_admin import require_broker

if TYPE_CHECKING:  # the HTTP stack (FastAPI, uvicorn, the console) loads only for --api
    from supportes.api.server import ApiServer

log = get_logger("serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` verb."""
    parser = subparsers.add_parser(
        "serve", help="run the writer, the projector and the HTTP API until stopped"
    )
    parser.add_argument("--writer", action="store_true", help="run the command writer")
    parser.add_argument("--projector", action="store_true", help="run the projector")
    parser.add_argument(
        "--api", action="store_true", help="run the HTTP API (SUPPORTES_API_LISTEN)"
    )
    parser.add_argument(
        "--group-id",
        default="supportes-writer",
        help="writer consumer group (default: %(default)s)",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="run in the background (pid and log under SUPPORTES_HOME); return once ready",
    )
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the services (both unless one is named) until SIGINT/SIGTERM; the batch in hand is
    committed (or its transaction aborted) before exiting 0."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Reachable, and the credentials of a component this process runs are accepted.
    named = [
        c
        for c, on in (
            (Component.WRITER, args.writer),
            (Component.PROJECTOR, args.projector),
            (Component.API, args.api),
        )
        if on
    ]
    require_broker(settings, named[0] if named else Component.WRITER)
    if args.detach:
        return _detach(args, settings)
    every = not (args.writer or args.projector or args.api)
    services: list[threading.Thread] = []
    failures: list[BaseException] = []

    def guard(role: str, target: Callable[[threading.Event], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target(stop)
            except BaseException as exc:
                # Outages are ridden out inside each role: what reaches here is not transient.
                # The process ends (non-zero) so that a supervisor restarts all of it.
                failures.append(exc)
                log.exception("service failed; stopping serve", role=role, error=first_line(exc))
                stop.set()

        return body

    writer: Writer | None = None
    if args.writer or every:
        writer = Writer(settings, group_id=args.group_id)
        services.append(threading.Thread(target=guard("writer", writer.run), name="writer"))
    projector: Projector | None = None
    if args.projector or every:
        projector = Projector(settings, record_metrics=True)
        services.append(
            threading.Thread(target=guard("projector", projector.run), name="projector")
        )
    api: ApiServer | None = None
    if args.api or every:
        from supportes.api.server import ApiServer  # here: see TYPE_CHECKING above

        api = ApiServer(settings)
        services.append(threading.Thread(target=guard("api", api.run), name="api"))
    describe_process(
        [role for role, on in (("writer", writer), ("projector", projector), ("api", api)) if on]
    )
    listener = _metrics_listener(settings, writer, projector)
    try:
        _supervise(
            services,
            stop,
            ready_file=args.ready_file,
            health=serve_health.health_file(settings),
            writer=writer,
            api=api,
        )
    finally:
        if listener is not None:
            listener.close()
    return 1 if failures else 0


def _metrics_listener(
    settings: Settings, writer: Writer | None, projector: Projector | None
) -> MetricsServer | None:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``SUPPORTES_METRICS_LISTEN`` (when set)
    for the writer and projector roles of this process."""
    if settings.metrics_listen is None:
        return None
    own: dict[str, Callable[[], str]] = {}
    if writer is not None:
        own["writer"] = lambda: "ok" if writer_joined(writer) else "joining its group"
    if projector is not None:
        own["projector"] = lambda: "ok"
    component = PgComponent.WRITER if writer is not None else PgComponent.PROJECTOR
    readiness = Readiness(settings, settings.dsn_for(component), own)
    listener = MetricsServer(settings.metrics_listen, readiness)
    listener.start()
    return listener


def _supervise(
    services: list[threading.Thread],
    stop: threading.Event,
    *,
    ready_file: Path | None,
    health: Path,
    writer: Writer | None,
    api: ApiServer | None,
) -> None:
    """Start the services and watch them until all have ended: write ``ready_file`` once
    they are ready, publish the roles' health about twice a second; both files are removed
    at the end."""
    for service in services:
        service.start()
    waiting_for_ready = ready_file
    try:
        while any(s.is_alive() for s in services):
            if waiting_for_ready is not None and not stop.is_set() and _ready(writer, api):
                waiting_for_ready.write_text("ready\n")
                log.info("serve ready")
                waiting_for_ready = None
            _publish_health(health)
            for service in services:
                service.join(timeout=0.5)
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
        health.unlink(missing_ok=True)


def _publish_health(path: Path) -> None:
    try:
        serve_health.publish(path, HEALTH.snapshot())
    except OSError as exc:  # never let the status file stop serving
        log.debug("health file not written", path=str(path), error=str(exc))


def _ready(writer: Writer | None, api: ApiServer | None) -> bool:
    """Services run, the writer (if any) has opened every partition it owns and the API (if
    any) listens."""
    return (writer is None or writer.ready.is_set()) and (api is None or api.ready.is_set())


def _detach(args: argparse.Namespace, settings: Settings) -> int:
    serve_args = [*(["--writer"] if args.writer else []), "--group-id", args.group_id]
    serve_args += ["--projector"] if args.projector else []
    serve_args += ["--api"] if args.api else []
    pid, started = serve_process.start(settings, serve_args)
    log_file = serve_process.state(settings).log_file
    if started:
        print(f"serve running in the background (pid {pid}); log {log_file}")
    else:
        print(f"serve already running (pid {pid}); log {log_file}")
    return 0
