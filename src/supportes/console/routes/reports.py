"""Repeat issues and service metrics, as bar and line charts beside their tables."""

from __future__ import annotations

from dataclasses import dataclass
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
from supportes.settings import Settings

router = APIRouter(prefix=PREFIX, include_in_schema=False)
TOP = 15
DEFAULT_DAYS = 30
MAX_DAYS = 366
GROUPINGS = ("root-cause", "known-answer", "topic")
HOUR_S = 3600.0


@dataclass(frozen=True)
class MetricLine:
    """One line chart of the metrics page: the daily column it draws, in what unit."""

    name: str
    field: str
    title: str
    description: str
    scale: float = 1.0


METRIC_LINES = (
    MetricLine(
        "fcr",
        "first_contact_resolution_rate",
        "first-contact resolution rate",
        "First-contact resolution rate per day, with its target",
    ),
    MetricLine(
        "csat",
        "csat_average",
        "CSAT average (1-5)",
        "Average satisfaction rating per day, with its target",
    ),
    MetricLine(
        "acknowledge",
        "median_seconds_to_acknowledge",
        "median hours to acknowledge",
        "Median hours to acknowledge per day, with the service level",
        HOUR_S,
    ),
    MetricLine(
        "resolve",
        "median_seconds_to_resolve",
        "median hours to resolve",
        "Median hours to resolve per day, with the target",
        HOUR_S,
    ),
)


def service_levels(settings: Settings) -> dict[str, float]:
    """Each line's service level, in the line's unit (hours for the times)."""
    return {
        "fcr": settings.target_first_contact_resolution_rate,
        "csat": settings.target_csat_average,
        "acknowledge": settings.sla_acknowledge.total_seconds() / HOUR_S,
        "resolve": settings.target_resolve.total_seconds() / HOUR_S,
    }


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
    targets = service_levels(settings)
    charts = {
        line.name: line_chart(
            days,
            line.field,
            description=line.description,
            title=line.title,
            scale=line.scale,
            reference=targets[line.name],
        )
        for line in METRIC_LINES
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
            line.name: sum(1 for day in days if day.get(line.field) is not None)
            for line in METRIC_LINES
        },
        targets=targets,
    )
