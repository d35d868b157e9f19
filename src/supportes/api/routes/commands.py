"""``POST /v1/commands`` and ``GET /v1/commands/{command_id}``."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supportes.aggregates import Rejection
from supportes.api.access import customer_of, not_found, require_visible
from supportes.api.commanding import rejection_error, result_response, submit_attested
from supportes.api.context import context_of
from supportes.api.errors import ApiError
from supportes.api.headers import (
    IDEMPOTENCY_KEY_PARAMETER,
    IF_MATCH_PARAMETER,
    expected_version,
    idempotency_key,
    if_match,
)
from supportes.api.schemas import ERRORS, CommandBody, CommandResult, Pending
from supportes.api.security import Caller, allow
from supportes.auth.policy import Action, Forbidden
from supportes.ops.privacy import ERASE_COMMAND
from supportes.ops.queries import dict_rows
from supportes.ops.submission import CommandRequest, attest, command_id_for

router = APIRouter(prefix="/v1/commands", tags=["commands"])


@router.post(
    "",
    status_code=200,
    response_model=CommandResult,
    responses={
        201: {"model": CommandResult, "description": "Accepted; it created the aggregate"},
        202: {"model": Pending, "description": "Sent; the result is not in yet (GET the Location)"},
        409: {"model": CommandResult, "description": "Rejected by a rule (its code)"},
        412: {"model": CommandResult, "description": "If-Match names another version"},
        413: {"model": CommandResult, "description": "The command is too large"},
        **ERRORS,
    },
    summary="Submit a command as the caller",
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER, IF_MATCH_PARAMETER]},
)
async def submit_command(body: CommandBody, caller: Caller, request: Request) -> Response:
    """Submit a command; the actor is the caller (an integration may act ``on_behalf_of`` a
    customer) and the time is the server's. Waits for the result."""
    allow(caller, Action.SUBMIT)
    context = context_of(request)
    key = idempotency_key(request)
    version_header = if_match(request)
    wanted = CommandRequest(
        type=body.type,
        aggregate_id=body.aggregate_id,
        payload=body.payload,
        issued_at=body.issued_at,
        on_behalf_of=body.on_behalf_of,
        actor_id=body.actor.id if body.actor is not None else None,
        correlation_id=body.correlation_id,
        expected_version=expected_version(version_header),
    )
    try:
        attested = attest(
            caller,
            wanted,
            command_id=command_id_for(caller, key),
            now=datetime.now(UTC),
        )
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except Rejection as rejection:
        raise rejection_error(rejection) from None
    if attested.command.type == ERASE_COMMAND:  # an admin's: the policy refused the others
        raise ApiError(
            422,
            "invalid",
            f"type: {ERASE_COMMAND} is sent by POST /v1/privacy/subjects/{{customer_id}}/erasure,"
            " which destroys the customer's keys before recording it",
            "type",
        )
    return await submit_attested(
        context,
        caller,
        attested,
        if_match=version_header is not None,
        idempotent=key is not None,
    )


@router.get(
    "/{command_id}",
    response_model=CommandResult,
    responses={**ERRORS},
    summary="A submitted command's result",
)
async def command_result(command_id: UUID, caller: Caller, request: Request) -> Response:
    """The result of a command the writer has processed (404 when it has not, or when it is on
    another customer's case)."""
    allow(caller, Action.SUBMIT)
    context = context_of(request)

    def lookup() -> Response:
        with context.database.connection() as conn:
            rows = dict_rows(
                conn,
                "SELECT result FROM event_index.processed_commands WHERE command_id = %s",
                (str(command_id),),
            )
            if not rows:
                raise not_found(f"command {command_id}")
            result = rows[0]["result"]
            aggregate = result.get("aggregate_id")
            if aggregate is not None:
                owner = customer_of(conn, UUID(aggregate))
                if owner is not None:
                    require_visible(conn, caller, UUID(aggregate), owner)
        response = result_response(result, if_match=False, replayed=False)
        response.status_code = 200
        return response

    return await run_in_threadpool(lookup)
