"""Sending an attested command and answering with its result (section 8's status mapping)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import orjson
import psycopg2
from fastapi.responses import JSONResponse, Response

from supportes.aggregates import Rejection
from supportes.api.access import customer_of_case, not_found
from supportes.api.context import ApiContext
from supportes.api.errors import ApiError, result_status
from supportes.api.submitter import Answer, KafkaUnavailableError
from supportes.auth import Principal
from supportes.auth.policy import case_writable
from supportes.client import CommandTooLargeError
from supportes.consumers.records import command_digest
from supportes.errors import DatabaseUnavailableError
from supportes.ops.submission import AttestedCommand
from supportes.privacy.sealing import carries_personal_data

REPLAYED = "Idempotent-Replayed"
KAFKA_RETRY_AFTER_S = 5
CUSTOMER_COMMANDS_ON_OPEN = frozenset({"OpenCase"})
CREATED_AT = {"CaseOpened": "cases", "RootCauseIdentified": "root-causes"}
"""Where the API serves an aggregate a command created (a data subject's erasure: nowhere)."""


def rejection_error(rejection: Rejection) -> ApiError:
    """A command refused before sending, with the status its code maps to."""
    status = result_status({"status": "rejected", "error": rejection.as_error()}, if_match=False)
    return ApiError(status, rejection.code.value, rejection.message, rejection.field)


async def check_case_of_actor(context: ApiContext, attested: AttestedCommand) -> None:
    """A command acting as a customer must be on that customer's case (the policy's
    :func:`case_writable`; 404 otherwise: another customer's case is not revealed)."""
    command = attested.command
    if command.actor.kind.value != "customer" or command.type in CUSTOMER_COMMANDS_ON_OPEN:
        return
    owner = await customer_of_case(context.database, command.aggregate_id, context.case_owners)
    if owner is not None and not case_writable(command.actor, case_customer_id=owner):
        raise not_found(f"case {command.aggregate_id}")


async def sealed(context: ApiContext, attested: AttestedCommand) -> AttestedCommand:
    """``attested`` with its personal fields sealed (on a worker thread: the key store and the
    case's subject may need PostgreSQL); refusals (``subject_erased``, ``not_found``) raise, and
    PostgreSQL out of reach is 503: nothing is sent, since nothing may be sent unsealed."""
    if not carries_personal_data(attested.envelope):
        return attested
    try:
        # attested: parsed already (the command it parsed to travels with it)
        envelope = await asyncio.to_thread(context.sealer.seal, attested.envelope, checked=True)
    except Rejection as rejection:
        raise rejection_error(rejection) from None
    except (DatabaseUnavailableError, psycopg2.OperationalError, psycopg2.InterfaceError):
        raise ApiError(
            503,
            "unavailable",
            "PostgreSQL (the customers' keys) is unavailable; the command was not sent. Retry"
            " later",
        ) from None
    return AttestedCommand(envelope, attested.command)


STORED_ANSWER = "SELECT result, digest FROM event_index.processed_commands WHERE command_id = %s"


async def stored_answer(
    context: ApiContext, command_id: UUID
) -> tuple[dict[str, Any], str | None] | None:
    """The first result (and digest) of an already processed command, from the event index."""
    rows = await context.database.fetch(STORED_ANSWER, (str(command_id),))
    return (rows[0]["result"], rows[0]["digest"]) if rows else None


def result_response(result: dict[str, Any], *, if_match: bool, replayed: bool) -> Response:
    """The HTTP answer of a command's result (orjson: the result is plain JSON already)."""
    status = result_status(result, if_match=if_match)
    headers: dict[str, str] = {}
    if replayed:
        headers[REPLAYED] = "true"
    if result.get("status") == "accepted" and result.get("version") is not None:
        headers["ETag"] = f'"{result["version"]}"'
        kind = CREATED_AT.get(result["events"][0]["type"]) if status == 201 else None
        if kind is not None and result.get("aggregate_id"):
            headers["Location"] = f"/v1/{kind}/{result['aggregate_id']}"
    return Response(
        orjson.dumps(result), status_code=status, headers=headers, media_type="application/json"
    )


async def submit_attested(
    context: ApiContext,
    caller: Principal,
    attested: AttestedCommand,
    *,
    if_match: bool,
    idempotent: bool,
) -> Response:
    """Check the case, answer a replayed key from the index, else send and wait for the result
    (202 with ``Location`` when it does not come within ``SUPPORTES_API_RESULT_TIMEOUT_S``)."""
    await check_case_of_actor(context, attested)
    attested = await sealed(context, attested)
    command_id = attested.command.command_id
    if idempotent:
        stored = await stored_answer(context, command_id)
        if stored is not None:
            result, digest = stored
            if digest is not None and digest != command_digest(attested.envelope):
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    "Idempotency-Key: already used for a different command; the first one's"
                    " result stands. Use a new key for a new command",
                    "Idempotency-Key",
                )
            return result_response(result, if_match=if_match, replayed=True)
    answer = await send_and_wait(context, attested.envelope)
    if answer is None:
        location = f"/v1/commands/{command_id}"
        return JSONResponse(
            {"command_id": str(command_id), "status": "pending"},
            status_code=202,
            headers={"Location": location},
        )
    if not answer.replayed:  # a replay answers another envelope with the same id
        remember_opened_case(context, attested, answer.result)
    return result_response(answer.result, if_match=if_match, replayed=answer.replayed)


async def send_and_wait(context: ApiContext, envelope: dict[str, Any]) -> Answer | None:
    """Send ``envelope`` and wait for its result (None when it does not come within
    ``SUPPORTES_API_RESULT_TIMEOUT_S``); a command too large is 413, Kafka out of reach 503."""
    try:
        future = context.submitter.submit(envelope)
    except CommandTooLargeError as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except KafkaUnavailableError:
        raise ApiError(
            503,
            "unavailable",
            "Kafka is unavailable; the command was not sent. Retry later (with the same"
            " Idempotency-Key, it is answered once)",
            None,
            {"Retry-After": str(KAFKA_RETRY_AFTER_S)},
        ) from None
    try:
        return await asyncio.wait_for(future, timeout=context.settings.api_result_timeout_s)
    except TimeoutError:
        return None


def remember_opened_case(
    context: ApiContext, attested: AttestedCommand, result: dict[str, Any]
) -> None:
    """The customer of a case this command opened (its own result, not a replay's), kept in
    ``context.case_owners``: the customer's next command on it is then checked without asking
    the event index."""
    if attested.command.type != "OpenCase" or result.get("status") != "accepted":
        return
    events = result.get("events") or []
    if not events or events[0].get("version") != 1:  # opened by an earlier command
        return
    customer = (attested.envelope.get("payload") or {}).get("customer_id")
    if isinstance(customer, str) and customer:
        context.case_owners.remember(attested.command.aggregate_id, customer)
