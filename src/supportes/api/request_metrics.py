"""Request metrics: every HTTP request timed by route template, method and status.

Pure ASGI middleware (no per-request task or body buffering): the status is read from the
response's start message, the route template from the route Starlette matched (``scope
["route"]``); an unmatched path counts as ``<unmatched>`` so that probing random URLs cannot
grow the label set.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportes.auth.principal import Reason
from supportes.observability import metrics

UNMATCHED = "<unmatched>"
KNOWN_REASONS = frozenset(r.value for r in Reason)


class RequestMetrics:
    """ASGI middleware observing ``supportes_api_request_duration_seconds``."""

    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # an exception before the response started is answered 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            metrics.API_REQUEST_SECONDS.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - began
            )


def auth_failed(reason: str) -> None:
    """Count a refused credential (an unknown reason counts as ``other``: bounded labels)."""
    metrics.API_AUTH_FAILURES.labels(reason if reason in KNOWN_REASONS else "other").inc()


def forbidden() -> None:
    """Count a caller refused by the policy (403)."""
    metrics.API_AUTH_FAILURES.labels("forbidden").inc()


def rate_limited() -> None:
    """Count a request refused with 429."""
    metrics.API_RATE_LIMITED.inc()
