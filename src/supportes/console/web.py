"""What every console page shares: templates, security headers, the signed-in session, CSRF.

Pages are server-rendered with Jinja2 (autoescaping on: a case subject is always text), with
one script and one stylesheet of the console's own and the vendored chart bundle. The
Content-Security-Policy allows nothing else: no inline script or style, no other origin.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import jinja2
import orjson
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportes.api.context import context_of
from supportes.api.errors import ApiError
from supportes.auth.policy import Action, allows
from supportes.console.sessions import (
    LOOKUP,
    ConsoleSession,
    digest,
    same_token,
    session_from_row,
)

HERE = Path(__file__).parent
PREFIX = "/console"
STATIC = f"{PREFIX}/static"
SIGN_IN = f"{PREFIX}/sign-in"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Only the console's own assets; no inline script or style, no framing, no other origin."""

SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
MAX_FORM_BYTES = 32_768

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is text unless a template says |safe (chart JSON only)
        undefined=jinja2.StrictUndefined,
    )
)


class ConsoleHeaders:
    """Pure ASGI middleware: every ``/console`` response gets the security headers, and every
    one but the static assets ``Cache-Control: no-store`` (a page shows a case's personal
    data: no cache keeps it after sign-out) and ``Server-Timing: app;dur=<ms>`` (the server's
    time to the response's start: what ``make bench`` reports per page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to responses under :data:`PREFIX`."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(STATIC + "/")
        began = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() != b"cache-control"
                ]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                    spent_ms = (time.perf_counter() - began) * 1000
                    headers.append((b"server-timing", f"app;dur={spent_ms:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def duration(seconds: int) -> str:
    """A span of time as people read it on a queue: ``2 d 5 h``, ``3 h 12 min``, ``4 min``
    (console.js formats the live rows the same way)."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


templates.env.filters["duration"] = duration


def cookie_name(request: Request) -> str:
    """The session cookie's name: ``__Host-`` prefixed when Secure (bound to this host)."""
    secure = context_of(request).settings.console_cookie_secure
    return "__Host-supportes_console" if secure else "supportes_console"


def sign_in_cookie_name(request: Request) -> str:
    """The sign-in form's CSRF cookie (double submit: before any session exists)."""
    secure = context_of(request).settings.console_cookie_secure
    return "__Host-supportes_sign_in" if secure else "supportes_sign_in"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole host (Secure as configured)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=context_of(request).settings.console_cookie_secure,
        httponly=True,
        samesite="strict",
    )


class SignInRequired(Exception):  # noqa: N818 - a control-flow signal, like HTTPException
    """No live session: pages redirect to the sign-in form, console calls answer 401."""


def wants_html(request: Request) -> bool:
    """True for a browser navigation (its ``Accept`` names HTML)."""
    return "text/html" in request.headers.get("accept", "")


def sign_in_required_response(request: Request) -> Response:
    """303 to the sign-in form for a page, 401 for a script's call."""
    if wants_html(request):
        return RedirectResponse(SIGN_IN, status_code=303)
    return Response(
        orjson.dumps({"error": {"code": "unauthenticated", "message": "sign in", "field": None}}),
        status_code=401,
        media_type="application/json",
    )


async def signed_in(request: Request) -> ConsoleSession:
    """The request's live session (its cookie looked up on the event loop), else
    :class:`SignInRequired`."""
    secret = request.cookies.get(cookie_name(request))
    if not secret or len(secret) > 100:
        raise SignInRequired
    now = datetime.now(UTC)
    rows = await context_of(request).database.fetch(LOOKUP, (digest(secret), now, now))
    if not rows:
        raise SignInRequired
    session = session_from_row(rows[0])
    request.state.console_session = session
    return session


Session = Annotated[ConsoleSession, Depends(signed_in)]
"""A route parameter receiving the signed-in session."""


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as fields (first value of each); 415 for
    another type, 413 past :data:`MAX_FORM_BYTES`."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "expected a form (urlencoded)")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(413, "too_large", f"form larger than {MAX_FORM_BYTES} bytes")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


class CsrfRefused(Exception):  # noqa: N818 - a control-flow signal
    """A console POST without its session's CSRF token (403, nothing changed)."""


def require_csrf(session: ConsoleSession, presented: str | None) -> None:
    """:class:`CsrfRefused` unless ``presented`` is the session's CSRF token."""
    if not same_token(presented, session.csrf_token):
        raise CsrfRefused


def page(
    request: Request,
    template: str,
    session: ConsoleSession | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """``template`` rendered with the session's principal, CSRF token and what it may see."""
    principal = session.principal if session is not None else None
    response: HTMLResponse = templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "principal": principal,
            "may": {
                action.value: principal is not None and allows(principal, action)
                for action in Action
            },
            "static": STATIC,
            "prefix": PREFIX,
            **values,
        },
        status_code=status_code,
    )
    return response


def chart_json(spec: dict[str, Any]) -> str:
    """A chart spec for a ``<script type="application/json">`` block: JSON with ``<``, ``>``
    and ``&`` escaped, so no text in it can close the block."""
    text = orjson.dumps(spec).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
