"""The metrics and health listener of a serving process (``SUPPORTES_METRICS_LISTEN``).

``GET /metrics`` (Prometheus text format), ``/healthz`` (200 while the process runs) and
``/readyz`` (200 or 503 with the checks of :class:`~supportes.observability.readiness.Readiness`),
on a small threaded HTTP server of the standard library: the writer and the projector have no
web framework, and a scrape must not wait behind their work.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from supportes.logs import get_logger
from supportes.observability.readiness import Readiness

log = get_logger("metrics")


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) as a (host, port) pair."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` on a daemon thread until closed."""

    def __init__(self, listen: str, readiness: Readiness) -> None:
        self.readiness = readiness
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # scrapes every few seconds would flood the log

        self.httpd = ThreadingHTTPServer(split_listen(listen), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def address(self) -> str:
        """Where it listens (``host:port``, the port actually bound)."""
        host, port = self.httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        """Start answering."""
        self.thread.start()
        log.info("metrics listening", listen=self.address)

    def close(self) -> None:
        """Stop answering and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        """One GET."""
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(request, 200, generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(request, 200, {"status": "ok", "checks": {}})
        elif path == "/readyz":
            try:
                ready, checks = self.readiness.check()
            except Exception as exc:  # a probe must answer, never hang or crash the listener
                log.warning("readiness check failed", error=f"{type(exc).__name__}: {exc}")
                ready, checks = False, {"error": type(exc).__name__}
            status = "ok" if ready else "unavailable"
            self._json(request, 200 if ready else 503, {"status": status, "checks": checks})
        else:
            self._json(request, 404, {"error": {"code": "not_found", "message": "no such path"}})

    def _json(self, request: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        body = {**body, "checked_at": datetime.now(UTC).isoformat()} if code != 404 else body
        self._send(request, code, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str) -> None:
        request.send_response(code)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(body)
