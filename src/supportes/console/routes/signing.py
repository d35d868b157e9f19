"""Sign-in (an API token or an OIDC token in, a session cookie out) and sign-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from supportes.api.context import context_of
from supportes.auth import AuthenticationError, AuthenticationUnavailableError
from supportes.auth.policy import Action, allows
from supportes.console.sessions import (
    NewSession,
    create_session,
    end_session,
    new_secret,
    same_token,
)
from supportes.console.web import (
    PREFIX,
    SIGN_IN,
    CsrfRefused,
    Session,
    cookie_name,
    form_fields,
    page,
    require_csrf,
    set_cookie,
    sign_in_cookie_name,
)
from supportes.logs import get_logger

router = APIRouter(prefix=PREFIX, include_in_schema=False)
log = get_logger("console")
SIGN_IN_FORM_S = 3600
MAX_TOKEN_CHARS = 16_384


def _sign_in_form(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    """The form, with a fresh double-submit CSRF value in a cookie and a hidden field."""
    csrf = new_secret()
    response = page(request, "sign_in.html", None, status_code, csrf_token=csrf, error=error)
    set_cookie(response, request, sign_in_cookie_name(request), csrf, SIGN_IN_FORM_S)
    return response


@router.get("", include_in_schema=False)
async def console_home() -> Response:
    """The console starts at finding a case."""
    return RedirectResponse(f"{PREFIX}/cases", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    """The sign-in form."""
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Verify the token, refuse principals without the console (customers, integrations,
    analysts), and start a session: ``HttpOnly; SameSite=Strict`` cookie, 303 to the cases."""
    context = context_of(request)
    fields = await form_fields(request)
    expected = request.cookies.get(sign_in_cookie_name(request), "")
    if not expected or not same_token(fields.get("csrf_token"), expected):
        raise CsrfRefused
    token = fields.get("token", "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _sign_in_form(request, 422, "token: paste an API token (spt_...) or an OIDC token")
    client = request.client.host if request.client is not None else "unknown"
    wait = context.limiter.take(f"console-sign-in:{client}")
    if wait > 0:
        return _sign_in_form(request, 429, "too many sign-in attempts; wait a minute")
    try:
        credential = await run_in_threadpool(context.authenticator.credential, token)
    except AuthenticationUnavailableError:
        return _sign_in_form(request, 503, "sign-in is unavailable (token store); retry later")
    except AuthenticationError as exc:
        log.info("console sign-in refused", reason=exc.reason)
        return _sign_in_form(request, 401, f"token not accepted: {exc.reason.replace('_', ' ')}")
    principal = credential.principal
    if not allows(principal, Action.USE_CONSOLE):
        log.info("console sign-in forbidden", principal=principal.id)
        roles = ", ".join(sorted(r.value for r in principal.roles))
        return _sign_in_form(
            request,
            403,
            f"{roles}: the console is for agents, leads, auditors and admins",
        )
    ttl = timedelta(seconds=context.settings.console_session_ttl_s)

    def start() -> NewSession:
        with context.database.connection() as conn:
            return create_session(conn, credential, ttl, datetime.now(UTC))

    made = await run_in_threadpool(start)
    expires_at = made.session.expires_at
    max_age = max(1, int((expires_at - datetime.now(UTC)).total_seconds()))
    log.info("console signed in", principal=principal.id, expires_at=expires_at.isoformat())
    response = RedirectResponse(f"{PREFIX}/cases", status_code=303)
    set_cookie(response, request, cookie_name(request), made.secret, max_age)
    response.delete_cookie(sign_in_cookie_name(request), path="/")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: Session) -> Response:
    """End the session (its row deleted, the cookie cleared); 403 without the CSRF token."""
    fields = await form_fields(request)
    require_csrf(session, fields.get("csrf_token"))
    context = context_of(request)
    secret = request.cookies.get(cookie_name(request))

    def end() -> None:
        with context.database.connection() as conn:
            end_session(conn, secret)

    await run_in_threadpool(end)
    log.info("console signed out", principal=session.principal.id)
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(cookie_name(request), path="/")
    return response
