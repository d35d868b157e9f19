"""Request bodies over ``SUPPORTES_API_MAX_BODY_BYTES`` get 413 before a route reads them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportes.api.encoding import json_response
from supportes.api.errors import error_body


class BodyLimit:
    """ASGI middleware: refuse a declared ``Content-Length`` over the limit at once, and stop a
    body that grows past it while streaming in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLargeError:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(
            "too_large",
            f"request body over {self.max_bytes:,} bytes (SUPPORTES_API_MAX_BODY_BYTES)",
        )
        await json_response(body, status_code=413)(scope, receive, send)


class _TooLargeError(Exception):
    pass
