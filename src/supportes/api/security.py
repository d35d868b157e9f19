"""Who is calling: the bearer token turned into a principal, rate-limited, and the policy asked.

Every route depends on :func:`principal`; what a principal may do is decided only by
:mod:`supportes.auth.policy` (routes call :func:`allow`).
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from supportes.api.context import ApiContext, context_of
from supportes.api.errors import ApiError
from supportes.api.request_metrics import auth_failed, forbidden, rate_limited
from supportes.auth import AuthenticationError, AuthenticationUnavailableError, Principal
from supportes.auth.policy import Action, Forbidden, require

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="supportes"'}


class BearerPrincipal(HTTPBearer):
    """The ``Authorization: Bearer`` scheme, resolved to the caller in one dependency.

    Being an ``HTTPBearer``, it puts the scheme in the OpenAPI document of every route that
    takes a :data:`Caller`; doing the authentication in its own ``__call__`` (rather than in a
    function depending on an ``HTTPBearer``) saves a nested dependency solve on every request,
    about 15 % of the case read route's CPU."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """The authenticated caller (401 with ``WWW-Authenticate`` otherwise; 429 over its
        rate)."""
        context: ApiContext = context_of(request)
        header = request.headers.get("authorization")
        try:
            cached = context.authenticator.cached(header)  # no I/O: no threadpool hop needed
            caller = (
                cached
                if cached is not None
                else await run_in_threadpool(context.authenticator.authenticate, header)
            )
        except AuthenticationUnavailableError:
            raise ApiError(
                503, "unavailable", "authentication is unavailable (token store); retry later"
            ) from None
        except AuthenticationError as exc:
            reason = getattr(exc, "reason", "invalid")
            auth_failed(reason)
            challenge = (
                CHALLENGE
                if header is None
                else {"WWW-Authenticate": 'Bearer realm="supportes", error="invalid_token"'}
            )
            raise ApiError(
                401, "unauthenticated", f"authentication failed: {reason}", None, challenge
            ) from None
        wait = context.limiter.take(caller.id)
        if wait > 0:
            rate_limited()
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests from {caller.id}; retry after {math.ceil(wait)}s",
                None,
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return caller


principal = BearerPrincipal(
    scheme_name="HTTPBearer",
    auto_error=False,
    description="An OIDC access token (JWT) or a supportes API token (`spt_...`).",
)
"""The dependency every authenticated route takes (through :data:`Caller`)."""


Caller = Annotated[Principal, Depends(principal)]
"""A route parameter receiving the authenticated principal."""


def allow(caller: Principal, action: Action) -> None:
    """403 unless the policy lets ``caller`` perform ``action``."""
    try:
        require(caller, action)
    except Forbidden as exc:
        forbidden()
        raise ApiError(403, "forbidden", str(exc)) from None
