"""Root causes, the follow-up queue and the reports: the CLI's reads over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supportes.api.access import not_found
from supportes.api.context import context_of
from supportes.api.encoding import etag, json_response
from supportes.api.errors import ApiError
from supportes.api.instants import utc_instant
from supportes.api.schemas import ERRORS
from supportes.api.security import Caller, allow
from supportes.auth.policy import Action
from supportes.ops.queries import dict_rows
from supportes.ops.reports import (
    daily_metrics,
    follow_ups_due,
    metrics_totals,
    repeat_issues,
)

router = APIRouter(prefix="/v1", tags=["reads"])

FollowUpKind = Literal[
    "acknowledge", "update_customer", "callback", "follow_up", "satisfaction",
    "preventive_action", "root_cause_needed", "known_answer_recurring",
]  # fmt: skip
"""The kinds of :data:`~supportes.ops.reports.FOLLOW_UP_KINDS` (a test keeps them equal)."""
RepeatBy = Literal["root-cause", "topic", "customer", "known-answer"]
"""The groupings of :data:`~supportes.ops.reports.REPEAT_ISSUES` (a test keeps them equal)."""


@router.get("/root-causes/{root_cause_id}", responses={**ERRORS}, summary="One root cause")
async def get_root_cause(root_cause_id: UUID, caller: Caller, request: Request) -> Response:
    """The root cause's repeat-issue row and its timeline."""
    allow(caller, Action.READ_ROOT_CAUSES)
    context = context_of(request)

    def load() -> Response:
        with context.database.connection() as conn:
            rows = dict_rows(
                conn,
                "SELECT * FROM proj.repeat_issues_by_root_cause WHERE root_cause_id = %s",
                (str(root_cause_id),),
            )
            if not rows:
                raise not_found(f"root cause {root_cause_id}")
            timeline = dict_rows(
                conn,
                "SELECT * FROM proj.root_cause_timeline WHERE root_cause_id = %s ORDER BY version",
                (str(root_cause_id),),
            )
        version = max((int(t["version"]) for t in timeline), default=0)
        return json_response(
            {"root_cause": rows[0], "timeline": timeline}, headers={"ETag": etag(version)}
        )

    return await run_in_threadpool(load)


@router.get("/queues/follow-ups", responses={**ERRORS}, summary="Follow-ups due")
async def follow_ups(
    *,
    caller: Caller,
    request: Request,
    kind: FollowUpKind | None = None,
    owner_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    at: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Open follow-up items due at ``at`` (default now), most overdue first."""
    allow(caller, Action.READ_QUEUES)
    context = context_of(request)
    moment = utc_instant(at, "at") or datetime.now(UTC)

    def load() -> Response:
        with context.database.connection() as conn:
            items = follow_ups_due(conn, moment, kind, owner_id, limit)
        return json_response({"at": moment, "items": items})

    return await run_in_threadpool(load)


@router.get("/reports/repeat-issues", responses={**ERRORS}, summary="Repeat issues")
async def repeat_issue_report(
    caller: Caller,
    request: Request,
    by: RepeatBy = "root-cause",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """The top repeat issues grouped ``by`` root cause, topic, customer or known answer."""
    allow(caller, Action.READ_REPORTS)
    context = context_of(request)

    def load() -> Response:
        with context.database.connection() as conn:
            rows = repeat_issues(conn, by, limit)
        return json_response({"by": by, "items": rows})

    return await run_in_threadpool(load)


@router.get("/reports/metrics", responses={**ERRORS}, summary="Service metrics per day")
async def metrics_report(
    caller: Caller,
    request: Request,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    """``proj.service_metrics_daily`` for the UTC days ``from..to`` and their totals."""
    allow(caller, Action.READ_METRICS)
    if from_ is not None and to is not None and to < from_:
        raise ApiError(422, "invalid", "to: must not be before from", "to")
    context = context_of(request)

    def load() -> Response:
        with context.database.connection() as conn:
            rows = daily_metrics(conn, from_, to)
        return json_response({"days": rows, "total": metrics_totals(rows)})

    return await run_in_threadpool(load)
