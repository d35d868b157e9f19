"""One error body for every refusal, and the HTTP status of a command's result (section 8).

Every error the API sends is ``{"error": {"code", "message", "field"}}``: the shape of a rejected
command's result, so a client reads a 401, a 422 from validation and a rule's 409 the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportes.logs import get_logger

log = get_logger("api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "version_conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}

_RULE_STATUS = {
    "invalid": 422,
    "idempotency_key_reused": 422,
    "not_found": 404,
    "unknown_command": 422,
}


class ApiError(Exception):
    """A refusal with its status, code, message and (for input errors) the field at fault."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(error: ApiError) -> JSONResponse:
    """``error`` as a response."""
    return JSONResponse(
        error_body(error.code, error.message, error.field),
        status_code=error.status,
        headers=error.headers,
    )


def result_status(result: Mapping[str, Any], *, if_match: bool) -> int:
    """The HTTP status of a command's result: accepted 201 when it created the aggregate, else
    200; ``invalid`` 422, ``not_found`` 404, ``version_conflict`` 412 with ``If-Match`` (409
    without), every other rule 409."""
    if result.get("status") == "accepted":
        events = result.get("events") or []
        return 201 if events and events[0].get("version") == 1 else 200
    code = str((result.get("error") or {}).get("code") or "")
    if code == "version_conflict":
        return 412 if if_match else 409
    return _RULE_STATUS.get(code, 409)


def _dotted(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or None


def install_handlers(app: FastAPI) -> None:
    """Route every exception to the one error body."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = _dotted(tuple(first.get("loc", ())))
        kind = str(first.get("type", ""))
        if kind == "extra_forbidden":
            message = "is not an allowed field"
        elif kind == "missing":
            message = "is required"
        else:
            message = str(first.get("msg", "is not valid"))
        return error_response(ApiError(422, "invalid", f"{field or 'request'}: {message}", field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return error_response(
            ApiError(exc.status_code, code, detail, None, getattr(exc, "headers", None))
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "request failed", path=request.url.path, error_type=type(exc).__name__
        )  # no message: it may quote input
        return error_response(ApiError(500, "internal", "internal error; see the server log"))
