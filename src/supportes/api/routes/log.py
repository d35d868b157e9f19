"""The log itself: ``GET /v1/events`` (the feed) and ``GET /v1/audit/verify``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from kafka.errors import KafkaError
from starlette.concurrency import run_in_threadpool

from supportes.api.access import not_found
from supportes.api.context import context_of
from supportes.api.cursors import decode_cursor, encode_cursor
from supportes.api.encoding import json_response
from supportes.api.errors import ApiError
from supportes.api.schemas import ERRORS, EventsPage
from supportes.api.security import Caller, allow
from supportes.auth.policy import Action
from supportes.errors import ConfigError, UsageError
from supportes.messaging.clients import Component, committed_reader
from supportes.messaging.event_feed import read_page
from supportes.ops.audit_verify import verify_audit

router = APIRouter(prefix="/v1", tags=["log"])


def _positions(cursor: str | None) -> dict[int, int]:
    if cursor is None:
        return {}
    state = decode_cursor(cursor, "after")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, int) and v >= 0
        for k, v in state.items()
    ):
        raise ApiError(422, "invalid", "after: not a cursor this API returned", "after")
    return {int(k): v for k, v in state.items()}


@router.get("/events", response_model=EventsPage, responses={**ERRORS}, summary="The event feed")
async def events_feed(
    caller: Caller,
    request: Request,
    after: Annotated[str | None, Query(max_length=20_000)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """Committed events after the cursor, partition by partition; page with ``next_cursor``
    until ``end_of_stream`` (and later again: new events follow the same cursor)."""
    allow(caller, Action.READ_EVENTS)
    context = context_of(request)
    positions = _positions(after)

    def page() -> Response:
        with context.feed_lock:
            if context.feed_reader is None:
                context.feed_reader = committed_reader(
                    context.settings,
                    Component.API,
                    client_id="supportes-api-feed",
                    fetch_max_wait_ms=50,
                )
            try:
                read = read_page(
                    context.feed_reader, context.settings.topic("events"), positions, limit
                )
            except (KafkaError, TimeoutError) as exc:
                context.feed_reader.close()
                context.feed_reader = None
                raise ApiError(503, "unavailable", f"reading the log failed: {exc}") from None
        return json_response(
            {
                "events": [
                    {"partition": i.partition, "offset": i.offset, "event": i.event}
                    for i in read.items
                ],
                "next_cursor": encode_cursor({str(p): o for p, o in read.positions.items()}),
                "end_of_stream": read.end_of_stream,
            }
        )

    return await run_in_threadpool(page)


@router.get("/audit/verify", responses={**ERRORS}, summary="Verify a case against the log")
async def audit_verify(caller: Caller, request: Request, case_id: UUID) -> Response:
    """Read the case's partition of the log from offset 0 and check its hash chain and the
    event index (``supportes audit verify --case``); ``ok`` false names the first failure."""
    allow(caller, Action.AUDIT_VERIFY)
    context = context_of(request)

    def verify() -> Response:
        try:
            report = verify_audit(context.settings, str(case_id))
        except UsageError:
            raise not_found(f"case {case_id}") from None
        except ConfigError as exc:
            raise ApiError(503, "unavailable", str(exc)) from None
        return json_response(report.as_dict())

    return await run_in_threadpool(verify)
