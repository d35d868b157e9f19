"""Cases: list, one case, its history (``as_of``), responsibility (``at``) and live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from supportes.api.access import not_found, visible_case, visible_case_row
from supportes.api.context import ApiContext, context_of
from supportes.api.cursors import decode_cursor, encode_cursor
from supportes.api.encoding import etag, json_response
from supportes.api.errors import ApiError
from supportes.api.headers import IF_NONE_MATCH_PARAMETER
from supportes.api.instants import utc_instant
from supportes.api.schemas import ERRORS, Page
from supportes.api.security import Caller, allow
from supportes.auth import Principal
from supportes.auth.policy import Action, Scope, read_scope
from supportes.errors import UsageError
from supportes.ops.case_history import load_history, state_as_of
from supportes.ops.case_lookup import resolve_aggregate_id
from supportes.ops.queries import dict_rows
from supportes.ops.responsibility_audit import load_trail, responsibility_at
from supportes.privacy.opener import EventOpener

router = APIRouter(prefix="/v1/cases", tags=["cases"])

Status = Literal["new", "acknowledged", "assigned", "resolved", "closed"]
STREAM_POLL_S = 0.25
STREAM_HEARTBEAT_S = 15.0


def _case_id(context: ApiContext, caller: Principal, text: str) -> tuple[UUID, dict[str, Any]]:
    """The case a path names (id or reference) and its row; 404 for unknown or not visible."""
    with context.database.connection() as conn:
        try:
            case_id = resolve_aggregate_id(conn, text)
        except UsageError:
            raise not_found(f"case {text}") from None
        return case_id, visible_case(conn, caller, case_id)


@router.get("", response_model=Page, responses={**ERRORS}, summary="List cases")
async def list_cases(
    *,
    caller: Caller,
    request: Request,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Status | None = None,
    owner_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Cases oldest first, filtered; a customer sees only its own, an integration only those it
    acted on."""
    allow(caller, Action.READ_CASES)
    context = context_of(request)
    after: tuple[str, str] | None = None
    if cursor is not None:
        state = decode_cursor(cursor, "cursor")
        if not (
            isinstance(state, list) and len(state) == 2 and all(isinstance(s, str) for s in state)
        ):
            raise ApiError(422, "invalid", "cursor: not a cursor this API returned", "cursor")
        after = (state[0], state[1])
    only_customer = customer_id
    only_via: str | None = None
    scope = read_scope(caller)
    if scope is Scope.OWN:
        if customer_id not in (None, caller.customer_id):
            return json_response({"items": [], "next_cursor": None})
        only_customer = caller.customer_id
    elif scope is Scope.ACTED_ON:
        only_via = caller.id

    def query() -> Response:
        with context.database.connection() as conn:
            rows = dict_rows(
                conn,
                "SELECT * FROM proj.case_view c"
                " WHERE (%(customer)s::text IS NULL OR customer_id = %(customer)s)"
                " AND (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)"
                " AND (%(via)s::text IS NULL OR EXISTS (SELECT 1 FROM proj.case_timeline t"
                "      WHERE t.case_id = c.case_id AND t.via_id = %(via)s))"
                " AND (%(after_at)s::timestamptz IS NULL"
                "      OR (opened_at, case_id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))"
                " ORDER BY opened_at, case_id LIMIT %(limit)s",
                {
                    "customer": only_customer,
                    "status": status,
                    "owner": owner_id,
                    "via": only_via,
                    "after_at": after[0] if after else None,
                    "after_id": after[1] if after else None,
                    "limit": limit + 1,
                },
            )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            encode_cursor([rows[-1]["opened_at"].isoformat(), str(rows[-1]["case_id"])])
            if more
            else None
        )
        return json_response({"items": rows, "next_cursor": next_cursor})

    return await run_in_threadpool(query)


@router.get(
    "/{case}",
    responses={**ERRORS, 304: {"description": "Not modified"}},
    summary="One case",
    openapi_extra={"parameters": [IF_NONE_MATCH_PARAMETER]},
)
async def get_case(
    case: Annotated[str, Path(max_length=100)],
    caller: Caller,
    request: Request,
) -> Response:
    """The case's current view (``proj.case_view``) by id or reference, with ``ETag``.

    ``If-None-Match`` is read from the headers, not declared as a parameter: only compared
    with the tag, it needs no validation, and a declared header costs a parameter solve on
    the API's most frequent read."""
    allow(caller, Action.READ_CASES)
    context = context_of(request)
    row = await visible_case_row(context.database, caller, case)
    tag = etag(int(row["version"]))
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return json_response(row, headers={"ETag": tag})


@router.get("/{case}/history", responses={**ERRORS}, summary="A case's events (as of a time)")
async def case_history(
    case: Annotated[str, Path(max_length=100)],
    caller: Caller,
    request: Request,
    as_of: datetime | None = None,
) -> Response:
    """Every event of the case from the event index, in version order; with ``as_of`` only
    those that had happened then, and the case's state at that moment (auditors)."""
    allow(caller, Action.READ_TIMELINE if as_of is None else Action.READ_HISTORY)
    as_of = utc_instant(as_of, "as_of")
    context = context_of(request)

    def load() -> Response:
        case_id, row = _case_id(context, caller, case)
        with context.database.connection() as conn:
            history = load_history(conn, case_id, EventOpener(context.sealer.keys))
        document: dict[str, Any] = {"case_id": str(case_id)}
        shown = history
        if as_of is not None:
            try:
                then = state_as_of(history, as_of)
            except UsageError as exc:
                raise ApiError(404, "not_found", str(exc).replace("--as-of", "as_of")) from None
            shown = then.entries
            document["as_of"] = as_of.isoformat()
            document["state"] = then.state
        document["events"] = [entry.as_dict() for entry in shown]
        return json_response(document, headers={"ETag": etag(int(row["version"]))})

    return await run_in_threadpool(load)


@router.get("/{case}/responsibility", responses={**ERRORS}, summary="Who was responsible, and when")
async def case_responsibility(
    case: Annotated[str, Path(max_length=100)],
    caller: Caller,
    request: Request,
    at: datetime | None = None,
) -> Response:
    """The holders of each role at ``at`` (default now) and the whole trail of hand-offs."""
    allow(caller, Action.READ_RESPONSIBILITY)
    at = utc_instant(at, "at")
    context = context_of(request)

    def load() -> Response:
        case_id, _ = _case_id(context, caller, case)
        with context.database.connection() as conn:
            trail = load_trail(conn, case_id)
        moment = at or datetime.now().astimezone()
        return json_response(responsibility_at(case_id, trail, moment).as_dict())

    return await run_in_threadpool(load)


@router.get(
    "/{case}/stream",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
    summary="The case's events as they are projected (Server-Sent Events)",
)
async def case_stream(
    case: Annotated[str, Path(max_length=100)],
    caller: Caller,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """One SSE message per event of the case in version order (``id`` = version, ``event`` =
    type, ``data`` = the timeline row), from after ``Last-Event-ID`` (default: the start)."""
    allow(caller, Action.READ_TIMELINE)
    context = context_of(request)
    after = 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise ApiError(
                422, "invalid", "Last-Event-ID: must be a version number", "Last-Event-ID"
            )
        after = int(last_event_id.strip())
    case_id, _ = await run_in_threadpool(_case_id, context, caller, case)

    def newer(version: int) -> list[dict[str, Any]]:
        with context.database.connection() as conn:
            return dict_rows(
                conn,
                "SELECT * FROM proj.case_timeline WHERE case_id = %s AND version > %s"
                " ORDER BY version LIMIT 500",
                (str(case_id), version),
            )

    async def events() -> AsyncIterator[bytes]:
        version = after
        quiet = 0.0
        yield b"retry: 2000\n\n"
        while not await request.is_disconnected():
            rows = await run_in_threadpool(newer, version)
            for row in rows:
                version = int(row["version"])
                data = json_response(row).body
                yield (
                    f"id: {version}\nevent: {row['type']}\ndata: ".encode() + bytes(data) + b"\n\n"
                )
            if rows:
                quiet = 0.0
                continue
            await asyncio.sleep(STREAM_POLL_S)
            quiet += STREAM_POLL_S
            if quiet >= STREAM_HEARTBEAT_S:
                quiet = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
