"""The follow-up queue: due and overdue items, most overdue first, kept live over SSE."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from supportes.api.context import ApiContext, context_of
from supportes.api.encoding import json_response
from supportes.api.errors import ApiError
from supportes.auth.policy import Action
from supportes.console.queries import queue_items, queue_owners
from supportes.console.routes.cases import forbid_unless
from supportes.console.web import PREFIX, Session, SignInRequired, page, signed_in
from supportes.ops.reports import FOLLOW_UP_KINDS

router = APIRouter(prefix=PREFIX, include_in_schema=False)
POLL_S = 1.0
HEARTBEAT_S = 15.0
STREAM_MAX_S = 3600.0
"""A stream ends after an hour (the browser's EventSource reconnects on its own): no
connection outlives a session by long."""

Owner = Annotated[str | None, Query(max_length=200)]
Kind = Annotated[str | None, Query(max_length=40)]


def _filters(owner: str | None, kind: str | None) -> tuple[str | None, str | None]:
    owner = owner.strip() if owner and owner.strip() else None
    kind = kind.strip() if kind and kind.strip() else None
    if kind is not None and kind not in FOLLOW_UP_KINDS:
        raise ApiError(422, "invalid", f"kind: one of {', '.join(FOLLOW_UP_KINDS)}", "kind")
    return owner, kind


def _items(context: ApiContext, owner: str | None, kind: str | None) -> list[dict[str, Any]]:
    with context.database.connection() as conn:
        return queue_items(conn, datetime.now(UTC), owner, kind)


def item_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a queue row shows (the page's table and the stream's messages alike)."""
    return [
        {
            "key": f"{i['subject_id']}/{i['kind']}/{i['item']}",
            "due_at": i["due_at"].isoformat(),
            "overdue_seconds": int(i["overdue_seconds"]),
            "kind": i["kind"],
            "reference": i["reference"],
            "case_id": None if i["case_id"] is None else str(i["case_id"]),
            "owner_id": i["owner_id"],
            "priority": i["priority"],
            "detail": i["detail"],
        }
        for i in items
    ]


@router.get("/follow-ups")
async def follow_ups(
    request: Request, session: Session, owner: Owner = None, kind: Kind = None
) -> Response:
    """The queue page, filtered by owner and kind."""
    forbid_unless(session.principal, Action.READ_QUEUES)
    owner, kind = _filters(owner, kind)
    context = context_of(request)

    def load() -> tuple[list[dict[str, Any]], list[str]]:
        with context.database.connection() as conn:
            return queue_items(conn, datetime.now(UTC), owner, kind), queue_owners(conn)

    items, owners = await run_in_threadpool(load)
    return page(
        request,
        "follow_ups.html",
        session,
        items=item_rows(items),
        owners=owners,
        kinds=FOLLOW_UP_KINDS,
        owner=owner or "",
        kind=kind or "",
    )


@router.get("/follow-ups/items")
async def follow_up_items(
    request: Request, session: Session, owner: Owner = None, kind: Kind = None
) -> Response:
    """The queue's rows as JSON (what the stream sends)."""
    forbid_unless(session.principal, Action.READ_QUEUES)
    owner, kind = _filters(owner, kind)
    context = context_of(request)
    items = await run_in_threadpool(_items, context, owner, kind)
    return json_response({"items": item_rows(items)})


@router.get("/follow-ups/stream")
async def follow_up_stream(
    request: Request, session: Session, owner: Owner = None, kind: Kind = None
) -> StreamingResponse:
    """Server-Sent Events: a ``queue`` message with every row whenever the queue changes
    (checked every second), a comment every 15 s to keep the connection open."""
    forbid_unless(session.principal, Action.READ_QUEUES)
    owner, kind = _filters(owner, kind)
    context = context_of(request)

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        last = b""
        quiet = 0.0
        began = asyncio.get_running_loop().time()
        while not await request.is_disconnected():
            if asyncio.get_running_loop().time() - began > STREAM_MAX_S:
                return
            try:
                await signed_in(request)  # signed out (or revoked) since: the stream ends
            except SignInRequired:
                return
            try:
                rows = item_rows(await run_in_threadpool(_items, context, owner, kind))
            except ApiError:  # PostgreSQL away: keep the stream, say nothing new
                rows = None
            if rows is not None:
                body = orjson.dumps({"items": rows})
                digest = hashlib.sha256(
                    orjson.dumps([(r["key"], r["due_at"], r["owner_id"]) for r in rows])
                ).digest()
                if digest != last:
                    last = digest
                    quiet = 0.0
                    yield b"event: queue\ndata: " + body + b"\n\n"
            await asyncio.sleep(POLL_S)
            quiet += POLL_S
            if quiet >= HEARTBEAT_S:
                quiet = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
