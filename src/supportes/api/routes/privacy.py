"""A data subject's personal data, for the ``admin`` role only (design section 9):
``GET /v1/privacy/subjects/{customer_id}`` (where its erasure stands) and
``GET /v1/privacy/subjects/{customer_id}/export`` (every case of it, decrypted: GDPR Art. 15).
Erasure itself is ``supportes privacy erase`` (the owner's role destroys keys; the API's may not).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from supportes.aggregates.values import MAX_ID
from supportes.api.context import context_of
from supportes.api.encoding import json_response
from supportes.api.schemas import ERRORS
from supportes.api.security import Caller, allow
from supportes.auth.policy import Action
from supportes.ops.privacy import erasure_report, export_subject
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
