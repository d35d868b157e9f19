"""``/healthz`` (the process answers), ``/readyz`` (Kafka and PostgreSQL reachable) and
``/metrics`` (Prometheus exposition of this process: counts only, no personal data)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from supportes.api.context import context_of
from supportes.api.encoding import json_response
from supportes.api.errors import ApiError
from supportes.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Alive")
async def healthz() -> Response:
    """200 while the process serves requests."""
    return json_response({"status": "ok", "checks": {}, "checked_at": datetime.now(UTC)})


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency is unreachable"}},
    summary="Ready",
)
async def readyz(request: Request) -> Response:
    """200 when PostgreSQL answers and the results reader is connected to Kafka, else 503."""
    context = context_of(request)

    def check() -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            with context.database.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            checks["postgres"] = "ok"
        except ApiError:
            checks["postgres"] = "unreachable"
        checks["kafka"] = "ok" if context.submitter.connected() else "unreachable"
        return checks

    checks = await run_in_threadpool(check)
    ok = all(v == "ok" for v in checks.values())
    return json_response(
        {
            "status": "ok" if ok else "unavailable",
            "checks": checks,
            "checked_at": datetime.now(UTC),
        },
        status_code=200 if ok else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """This process's metrics in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
