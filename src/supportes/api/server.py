"""Running the API under uvicorn inside ``supportes serve`` (a thread beside the consumers)."""

from __future__ import annotations

import threading

import uvicorn

from supportes.api.app import create_app
from supportes.errors import ConfigError
from supportes.logs import get_logger
from supportes.runtime import settle_heap, tune_for_serving
from supportes.settings import Settings

log = get_logger("api")


def listen_address(settings: Settings) -> tuple[str, int]:
    """``SUPPORTES_API_LISTEN`` as (host, port)."""
    host, _, port = settings.api_listen.rpartition(":")
    number = int(port)
    if not 0 <= number < 65536:
        raise ConfigError(f"SUPPORTES_API_LISTEN: port {number} out of range")
    return host.strip("[]"), number


class ApiServer:
    """uvicorn serving :func:`create_app`; ``run(stop)`` returns once ``stop`` is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        tune_for_serving()  # process-wide, as the projector's and the writer's settings are
        host, port = listen_address(settings)
        config = uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (or uvicorn fails to start: ConfigError)."""
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True)
        watcher.start()
        self.server.run()
        if not self.server.started and not stop.is_set():
            raise ConfigError(
                f"the API could not listen on {self.settings.api_listen} (SUPPORTES_API_LISTEN)"
            )

    def bound(self) -> str | None:
        """The address uvicorn listens on (with the real port when the setting gave 0)."""
        for server in getattr(self.server, "servers", ()):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                return f"{host}:{port}"
        return None

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            if self.server.started and not self.ready.is_set():
                frozen = settle_heap()  # start-up's objects out of every later full collection
                log.info("heap settled", frozen_objects=frozen)
                self.ready.set()
                log.info("api listening", listen=self.bound() or self.settings.api_listen)
        self.server.should_exit = True
