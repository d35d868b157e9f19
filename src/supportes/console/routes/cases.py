"""Finding a case, its page (timeline, responsibility chart, time travel, log check), and the
two calls the page's script makes: the case as of an instant, and the from-log check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supportes.api.access import require_visible
from supportes.api.context import ApiContext, context_of
from supportes.api.encoding import json_response
from supportes.api.errors import ApiError
from supportes.api.instants import utc_instant
from supportes.auth import Principal
from supportes.auth.policy import Action, allows
from supportes.console.charts import responsibility_chart
from supportes.console.queries import find_cases
from supportes.console.web import PREFIX, Session, chart_json, page, require_csrf
from supportes.errors import ConfigError, UsageError
from supportes.ops.case_history import HistoryEntry, load_history, state_as_of
from supportes.ops.case_lookup import case_row, resolve_aggregate_id
from supportes.ops.log_check import compare_with_log
from supportes.ops.responsibility_audit import load_trail, responsibility_at
from supportes.privacy.opener import EventOpener

router = APIRouter(prefix=PREFIX, include_in_schema=False)

AS_OF_FIELDS = (
    "status", "owner_id", "responsible_id", "suggested_owner_id", "priority", "category",
    "product", "root_cause_id", "escalations", "reopen_count", "fixes_applied",
)  # fmt: skip
"""What the time-travel panel shows of the case's state at an instant."""


def forbid_unless(principal: Principal, action: Action) -> None:
    """403 unless the policy allows ``action`` (the console asks the same policy as the API)."""
    if not allows(principal, action):
        raise ApiError(403, "forbidden", f"{principal.id} may not {action.value}")


def _load_case(context: ApiContext, principal: Principal, text: str) -> tuple[UUID, dict[str, Any]]:
    """The case ``text`` names and its view row; 404 for unknown and not visible alike."""
    with context.database.connection() as conn:
        try:
            case_id = resolve_aggregate_id(conn, text)
            row = case_row(conn, case_id)
        except UsageError:
            raise ApiError(404, "not_found", f"case {text} not found") from None
        require_visible(conn, principal, case_id, str(row["customer_id"]))
    return case_id, row


def _history(context: ApiContext, case_id: UUID) -> list[HistoryEntry]:
    with context.database.connection() as conn:
        return load_history(conn, case_id, EventOpener(context.sealer.keys))


@router.get("/cases")
async def find(
    request: Request,
    session: Session,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Find a case by reference, id or customer (the latest cases without ``q``)."""
    forbid_unless(session.principal, Action.READ_CASES)
    context = context_of(request)

    def search() -> list[dict[str, Any]]:
        with context.database.connection() as conn:
            return find_cases(conn, q)

    cases = await run_in_threadpool(search)
    return page(request, "cases.html", session, cases=cases, q=q or "")


@router.get("/cases/{case}")
async def case_page(request: Request, session: Session, case: str) -> Response:
    """The case: its state, timeline, who held it when, time travel and the log check."""
    if len(case) > 100:
        raise ApiError(404, "not_found", "case not found")
    forbid_unless(session.principal, Action.READ_TIMELINE)
    context = context_of(request)
    principal = session.principal

    def load() -> dict[str, Any]:
        case_id, row = _load_case(context, principal, case)
        history = _history(context, case_id)
        trail = []
        if allows(principal, Action.READ_RESPONSIBILITY):
            with context.database.connection() as conn:
                trail = load_trail(conn, case_id)
        return {
            "case_id": case_id,
            "case": row,
            "history": history,
            "trail": trail,
            "chart": chart_json(responsibility_chart(trail, datetime.now(UTC))),
            "instants": [entry.occurred_at.isoformat() for entry in history],
        }

    values = await run_in_threadpool(load)
    return page(request, "case.html", session, **values)


@router.get("/cases/{case_id}/as-of")
async def as_of(request: Request, session: Session, case_id: UUID, at: datetime) -> Response:
    """The case as it was at ``at`` (its state and who was responsible): the time travel."""
    forbid_unless(session.principal, Action.READ_HISTORY)
    forbid_unless(session.principal, Action.READ_RESPONSIBILITY)
    moment = utc_instant(at, "at")
    assert moment is not None
    context = context_of(request)

    def load() -> Response:
        _, _ = _load_case(context, session.principal, str(case_id))
        history = _history(context, case_id)
        try:
            then = state_as_of(history, moment)
        except UsageError as exc:
            raise ApiError(404, "not_found", str(exc).replace("--as-of", "at")) from None
        with context.database.connection() as conn:
            trail = load_trail(conn, case_id)
        holders = responsibility_at(case_id, trail, moment)
        return json_response(
            {
                "at": moment.isoformat(),
                "version": len(then.entries),
                "last_event": then.entries[-1].type,
                "state": {name: then.state.get(name) for name in AS_OF_FIELDS},
                "responsible": None
                if holders.responsible is None
                else holders.responsible.agent_id,
                "holders": {
                    role: None if held is None else held.agent_id
                    for role, held in holders.holders.items()
                },
            }
        )

    return await run_in_threadpool(load)


@router.post("/cases/{case_id}/verify")
async def verify(request: Request, session: Session, case_id: UUID) -> Response:
    """Read every event of the case back from Kafka at the offsets the index gives and check
    envelope, key and hash chain (``supportes case history --from-log``); the first
    difference, if any. The CSRF token comes in ``X-CSRF-Token``."""
    require_csrf(session, request.headers.get("x-csrf-token"))
    forbid_unless(session.principal, Action.AUDIT_VERIFY)
    context = context_of(request)

    def check() -> Response:
        _, _ = _load_case(context, session.principal, str(case_id))
        history = _history(context, case_id)
        try:
            differences = compare_with_log(context.settings, history, timeout_s=20.0)
        except ConfigError as exc:
            raise ApiError(503, "unavailable", str(exc)) from None
        return json_response(
            {
                "ok": not differences,
                "events": len(history),
                "checked_at": datetime.now(UTC).isoformat(),
                "first_difference": differences[0].as_dict() if differences else None,
                "differences": len(differences),
            }
        )

    return await run_in_threadpool(check)
