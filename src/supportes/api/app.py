"""The FastAPI application: routes per resource, one error shape, the shared context.

``create_app(settings)`` builds it; uvicorn serves it (``supportes serve --api``). The context
(Kafka clients, PostgreSQL pool) is made at start-up and released at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from supportes import __version__
from supportes.api.context import ApiContext
from supportes.api.errors import install_handlers
from supportes.api.limits import BodyLimit
from supportes.api.request_metrics import RequestMetrics
from supportes.api.routes import cases, commands, contacts, health, log, privacy, reads
from supportes.api.storable_input import refuse_unstorable_parameters
from supportes.console.app import mount_console
from supportes.settings import Settings

DESCRIPTION = """\
Commands in, cases out. Every request carries `Authorization: Bearer <token>` (an OIDC access
token or a supportes API token); the actor of every command is the caller, its time the
server's. Errors are `{"error": {"code", "message", "field"}}`.
"""


def create_app(settings: Settings, context: ApiContext | None = None) -> FastAPI:
    """The API for ``settings`` (``context``: an already started one, else made at start-up)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = context if context is not None else ApiContext.start(settings)
        app.state.context = started
        try:
            yield
        finally:
            if context is None:
                started.close()

    app = FastAPI(
        title="supportes",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(refuse_unstorable_parameters)],
        # FastAPI's OpenTelemetry bridge asks on every request whether a provider is set up;
        # supportes exports Prometheus metrics instead, so it is off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_handlers(app)
    for module in (commands, contacts, cases, reads, log, privacy, health):
        app.include_router(module.router)
    if settings.console_enabled:
        mount_console(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestMetrics, enabled=settings.metrics_enabled)
    return app
