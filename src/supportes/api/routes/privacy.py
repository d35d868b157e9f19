"""A data subject's personal data, for the ``admin`` role only (design section 9):
``GET /v1/privacy/subjects/{customer_id}`` (where its erasure stands),
``POST /v1/privacy/subjects/{customer_id}/erasure`` (erase it: GDPR Art. 17) and
``GET /v1/privacy/subjects/{customer_id}/export`` (every case of it, decrypted: GDPR Art. 15).
The erasure is the same service as ``supportes privacy erase``: keys destroyed first (through
``privacy.erase_subject``, the only way the API's role may), then ``SubjectErased`` recorded,
written as the calling admin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import uuid4

import psycopg2
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from supportes.aggregates import Rejection
from supportes.aggregates.data_subject import subject_aggregate_id
from supportes.aggregates.values import MAX_ID
from supportes.api.commanding import rejection_error, send_and_wait
from supportes.api.context import context_of
from supportes.api.encoding import json_response
from supportes.api.errors import ApiError
from supportes.api.schemas import ERRORS
from supportes.api.security import Caller, allow
from supportes.api.storable_input import StorableBody
from supportes.auth.policy import Action, Forbidden
from supportes.errors import DatabaseUnavailableError
from supportes.ops.privacy import (
    ERASE_COMMAND,
    ErasureNotRecordedError,
    check_recorded,
    destroy_keys,
    erasure_payload,
    erasure_report,
    export_subject,
)
from supportes.ops.submission import CommandRequest, attest
from supportes.privacy.keystore import MAX_REASON
from supportes.privacy.opener import EventOpener

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
CustomerId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=r"\S")]
"""A customer id: 1 to 200 characters, not only whitespace (as the domain's ``Id``)."""


@router.get(
    "/subjects/{customer_id}",
    responses={**ERRORS},
    summary="Where a customer's erasure stands",
)
async def subject_status(caller: Caller, request: Request, customer_id: CustomerId) -> Response:
    """Erased when, keys left, where ``SubjectErased`` is on the log, the projections that have
    not applied it yet, and ``complete`` (nothing readable is left)."""
    allow(caller, Action.MANAGE_PRIVACY)
    context = context_of(request)
    keys = context.sealer.keys

    def report() -> dict[str, Any]:
        with context.database.connection() as conn:
            topic = context.settings.topic("events")
            return erasure_report(keys, conn, topic, customer_id).as_dict()

    return json_response(await run_in_threadpool(report))


RETRY = "retry the erasure later (it finishes what a failed run left)"


class ErasureBody(StorableBody, BaseModel):
    """Why the subject is erased (a ticket reference: never personal data; kept with the
    record of the erasure)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON, pattern=r"\S")


@router.post(
    "/subjects/{customer_id}/erasure",
    status_code=202,
    responses={**ERRORS},
    summary="Erase a customer's personal data",
)
async def subject_erasure(
    caller: Caller, request: Request, customer_id: CustomerId, body: ErasureBody
) -> Response:
    """Destroy the customer's keys, then record ``SubjectErased`` (as the caller). 202 with
    where the erasure stands (``Location``: the status); ``complete`` once every projection
    has masked the customer's text. Erasing again finishes a failed run and is otherwise a
    no-op (``erased_now`` false)."""
    allow(caller, Action.MANAGE_PRIVACY)
    context = context_of(request)
    keys = context.sealer.keys
    try:
        attested = attest(
            caller,
            CommandRequest(
                type=ERASE_COMMAND,
                aggregate_id=subject_aggregate_id(customer_id),
                payload=erasure_payload(customer_id, ()),
            ),
            command_id=uuid4(),
            now=datetime.now(UTC),
        )
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except Rejection as rejection:  # a customer id the domain refuses: nothing is erased
        raise rejection_error(rejection) from None

    def destroy() -> tuple[bool, list[str]]:
        with context.database.connection() as conn:
            return destroy_keys(keys, conn, customer_id, body.reason)

    try:
        erased_now, fingerprints = await run_in_threadpool(destroy)
    except (DatabaseUnavailableError, psycopg2.OperationalError, psycopg2.InterfaceError):
        raise ApiError(503, "unavailable", f"PostgreSQL is unavailable; {RETRY}") from None
    envelope = {**attested.envelope, "payload": erasure_payload(customer_id, fingerprints)}
    try:
        answer = await send_and_wait(context, envelope)
    except ApiError as exc:
        if exc.status != 503:
            raise
        message = f"Kafka is unavailable: the keys are destroyed, SubjectErased is not; {RETRY}"
        raise ApiError(503, exc.code, message, None, exc.headers) from None
    if answer is not None:
        try:
            check_recorded(answer.result)
        except ErasureNotRecordedError as exc:
            raise ApiError(503, "unavailable", str(exc)) from None

    def report() -> dict[str, Any]:
        with context.database.connection() as conn:
            topic = context.settings.topic("events")
            return erasure_report(keys, conn, topic, customer_id).as_dict()

    status = await run_in_threadpool(report)
    return json_response(
        {
            **status,
            "erased_now": erased_now,
            "command_id": str(envelope["command_id"]),
            "recorded": "pending" if answer is None else "on the log",
        },
        status_code=202,
        headers={"Location": f"/v1/privacy/subjects/{quote(customer_id, safe='')}"},
    )


@router.get(
    "/subjects/{customer_id}/export",
    responses={**ERRORS},
    summary="Every case of a customer, decrypted",
)
async def subject_export(caller: Caller, request: Request, customer_id: CustomerId) -> Response:
    """Every case of the customer with its events, personal fields opened (an erased
    customer's read as ``[erased]``)."""
    allow(caller, Action.MANAGE_PRIVACY)
    context = context_of(request)
    opener = EventOpener(context.sealer.keys)

    def export() -> dict[str, Any]:
        with context.database.connection() as conn:
            return export_subject(conn, opener, customer_id)

    return json_response(await run_in_threadpool(export))
