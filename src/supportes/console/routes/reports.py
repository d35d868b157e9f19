"""Repeat issues and service metrics, as bar and line charts beside their tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supportes.api.context import context_of
from supportes.api.errors import ApiError
from supportes.auth.policy import Action
from supportes.console.charts import bar_chart, line_chart
from supportes.console.routes.cases import forbid_unless
from supportes.console.web import PREFIX, Session, chart_json, page
from supportes.ops.reports import daily_metrics, metrics_totals, repeat_issues

router = APIRouter(prefix=PREFIX, include_in_schema=False)
TOP = 15
DEFAULT_DAYS = 30
MAX_DAYS = 366
GROUPINGS = ("root-cause", "known-answer", "topic")
CHART_FIELDS = {
    "fcr": "first_contact_resolution_rate",
    "csat": "csat_average",
    "acknowledge": "median_seconds_to_acknowledge",
    "resolve": "median_seconds_to_resolve",
}
"""Each line chart of the metrics page and the daily column it draws."""


@router.get("/repeat-issues")
async def repeat_issues_page(request: Request, session: Session) -> Response:
    """Root causes ranked by cases (and recurrences after verification, open preventive
    actions), known answers ranked by times given, topics ranked by cases."""
    forbid_unless(session.principal, Action.READ_REPORTS)
    context = context_of(request)

    def load() -> dict[str, list[dict[str, Any]]]:
        with context.database.connection() as conn:
            return {
                by: repeat_issues(conn, by, TOP) for by in ("root-cause", "known-answer", "topic")
            }

    found = await run_in_threadpool(load)
    topics = [
        {**row, "topic": f"{row['category'] or '-'} / {row['product'] or '-'}"}
        for row in found["topic"]
    ]
    charts = {
        "root_causes": bar_chart(
            found["root-cause"],
            "title",
            "cases_total",
            description=f"Root causes by cases: {len(found['root-cause'])} bars",
            value_title="cases",
        ),
        "known_answers": bar_chart(
            found["known-answer"],
            "known_answer_id",
            "times_given",
            description=f"Known answers by times given: {len(found['known-answer'])} bars",
            value_title="times given",
        ),
        "topics": bar_chart(
            topics,
            "topic",
            "cases_total",
            description=f"Topics by cases: {len(topics)} bars",
            value_title="cases",
        ),
    }
    return page(
        request,
        "repeat_issues.html",
        session,
        root_causes=found["root-cause"],
        known_answers=found["known-answer"],
        topics=topics,
        charts={name: chart_json(spec) for name, spec in charts.items()},
    )


@router.get("/metrics")
async def metrics_page(
    request: Request,
    session: Session,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    """Daily first-contact resolution, satisfaction, and median times to acknowledge and to
    resolve over ``from..to`` (default: the last 30 days), each with its service level."""
    forbid_unless(session.principal, Action.READ_METRICS)
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ApiError(422, "invalid", "to: must not be before from", "to")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, "invalid", f"from: at most {MAX_DAYS} days before to", "from")
    context = context_of(request)
    settings = context.settings

    def load() -> list[dict[str, Any]]:
        with context.database.connection() as conn:
            return daily_metrics(conn, first, last)

    days = await run_in_threadpool(load)
    hour = 3600.0
    charts = {
        "fcr": line_chart(
            days,
            CHART_FIELDS["fcr"],
            description="First-contact resolution rate per day, with its target",
            title="first-contact resolution rate",
            reference=settings.target_first_contact_resolution_rate,
        ),
        "csat": line_chart(
            days,
            CHART_FIELDS["csat"],
            description="Average satisfaction rating per day, with its target",
            title="CSAT average (1-5)",
            reference=settings.target_csat_average,
        ),
        "acknowledge": line_chart(
            days,
            CHART_FIELDS["acknowledge"],
            description="Median hours to acknowledge per day, with the service level",
            title="median hours to acknowledge",
            scale=hour,
            reference=settings.sla_acknowledge.total_seconds() / hour,
        ),
        "resolve": line_chart(
            days,
            CHART_FIELDS["resolve"],
            description="Median hours to resolve per day, with the target",
            title="median hours to resolve",
            scale=hour,
            reference=settings.target_resolve.total_seconds() / hour,
        ),
    }
    return page(
        request,
        "metrics.html",
        session,
        days=days,
        total=metrics_totals(days),
        first=first.isoformat(),
        last=last.isoformat(),
        charts={name: chart_json(spec) for name, spec in charts.items()},
        marks={
            name: sum(1 for day in days if day.get(field) is not None)
            for name, field in CHART_FIELDS.items()
        },
        targets={
            "fcr": settings.target_first_contact_resolution_rate,
            "csat": settings.target_csat_average,
            "acknowledge_h": settings.sla_acknowledge.total_seconds() / hour,
            "resolve_h": settings.target_resolve.total_seconds() / hour,
        },
    )
