"""Mounting the console on the API's application: its routes, its static files, its headers,
and its refusals as pages (a browser navigation gets HTML, a script's call the API's JSON)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from supportes.api.errors import ApiError, error_response
from supportes.console.routes import cases, queue, reports, signing
from supportes.console.web import (
    HERE,
    PREFIX,
    STATIC,
    ConsoleHeaders,
    CsrfRefused,
    SignInRequired,
    page,
    sign_in_required_response,
    wants_html,
)
from supportes.logs import get_logger

log = get_logger("console")
Handler = Callable[[Request, Exception], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def mount_console(app: FastAPI) -> None:
    """Serve the console under ``/console`` on ``app``."""
    for module in (signing, cases, queue, reports):
        app.include_router(module.router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleHeaders)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    for kind in (ApiError, RequestValidationError):
        app.add_exception_handler(kind, _as_page(app.exception_handlers[kind]))


def _in_console(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    return sign_in_required_response(request)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    log.info("console csrf refused", path=request.url.path)
    refusal = ApiError(403, "csrf", "the form's CSRF token is missing or wrong; reload the page")
    if wants_html(request):
        return _error_page(request, refusal)
    return error_response(refusal)


def _as_page(api_handler: AnyHandler) -> Handler:
    """The API's handler, except that a console page navigation gets an HTML page."""

    async def handle(request: Request, exc: Exception) -> Response:
        if _in_console(request) and wants_html(request):
            if isinstance(exc, ApiError):
                return _error_page(request, exc)
            return _error_page(request, ApiError(422, "invalid", _validation_message(exc)))
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return handle


def _validation_message(exc: Exception) -> str:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if not errors:
        return "the request is not valid"
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return f"{field}: {first.get('msg', 'is not valid')}"


def _error_page(request: Request, error: ApiError) -> Response:
    session = getattr(request.state, "console_session", None)
    return page(
        request,
        "error.html",
        session,
        error.status,
        status=error.status,
        code=error.code,
        message=error.message,
    )
