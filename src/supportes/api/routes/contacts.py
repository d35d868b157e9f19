"""``POST /v1/contacts``: channel intake of an inbound customer message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from supportes.aggregates import Rejection
from supportes.api.commanding import rejection_error, submit_attested
from supportes.api.context import context_of
from supportes.api.errors import ApiError
from supportes.api.headers import IDEMPOTENCY_KEY_PARAMETER, idempotency_key
from supportes.api.schemas import ERRORS, ContactAnswer, ContactBody
from supportes.api.security import Caller, allow
from supportes.auth.policy import Action, Forbidden, require_intake
from supportes.ops.intake import (
    InboundMessage,
    IntakePlan,
    UnknownReferenceError,
    plan_intake,
)
from supportes.ops.submission import CommandRequest, attest, command_id_for

router = APIRouter(prefix="/v1/contacts", tags=["intake"])


@router.post(
    "",
    response_model=ContactAnswer,
    status_code=200,
    responses={201: {"model": ContactAnswer, "description": "A new case was opened"}, **ERRORS},
    summary="Take in a customer's message",
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER]},
)
async def take_contact(
    body: ContactBody,
    caller: Caller,
    request: Request,
) -> JSONResponse:
    """Route a customer's inbound message: a contact on the open case, a reopening of a resolved
    one, or a new case (``follow_up_of`` a closed one, its owner suggested)."""
    allow(caller, Action.INTAKE)
    context = context_of(request)
    key = idempotency_key(request)
    acting_for = body.customer_id or caller.customer_id
    if acting_for is None:
        raise ApiError(422, "invalid", "customer_id: is required", "customer_id")
    try:
        writer = require_intake(caller, customer_id=acting_for)
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    inbound = InboundMessage(
        customer_id=acting_for,
        channel=body.channel,
        message=body.message,
        subject=body.subject,
        reference=body.reference,
        priority=body.priority,
    )

    def plan() -> IntakePlan:
        with context.database.connection() as conn:
            return plan_intake(conn, inbound)

    try:
        decided = await run_in_threadpool(plan)
    except UnknownReferenceError:
        raise ApiError(
            404,
            "not_found",
            f"reference {body.reference}: no such case of this customer",
            "reference",
        ) from None
    on_behalf_of = writer.actor.id if writer.via is not None else None
    try:
        attested = attest(
            caller,
            CommandRequest(
                type=decided.command_type,
                aggregate_id=decided.case_id,
                payload=decided.payload,
                on_behalf_of=on_behalf_of,
            ),
            command_id=command_id_for(caller, key),
            now=datetime.now(UTC),
        )
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except Rejection as rejection:
        raise rejection_error(rejection) from None
    answered = await submit_attested(
        context, caller, attested, if_match=False, idempotent=key is not None
    )
    result = json.loads(bytes(answered.body))
    document = {
        "case_id": str(decided.case_id),
        "action": decided.action.value,
        "follow_up_of": None if decided.follow_up_of is None else str(decided.follow_up_of),
        "result": result,
    }
    headers = {k: v for k, v in answered.headers.items() if k.lower() != "content-length"}
    return JSONResponse(document, status_code=answered.status_code, headers=headers)
