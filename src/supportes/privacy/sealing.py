"""Sealing a command's personal fields, and opening an event's, by the domain's declarations.

Which fields are personal is read from the schemas (:func:`~supportes.aggregates.personal.
personal_fields`); each is sealed with its subject's key in the context (aggregate id, command
id, ``payload.<field>``, subject). An event copies its fields from its command under the same
names, so the event's field opens in the context of its ``command_id``: moved anywhere else, it
does not open. Pure functions: the keys come from the caller (a key store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.personal import PersonalData, personal_fields
from supportes.aggregates.wire import BY_NAME
from supportes.privacy.cipher import (
    FieldContext,
    UnreadableFieldError,
    is_sealed,
    open_sealed,
    opener_for,
    seal,
)
from supportes.privacy.keystore import SubjectKey

OPENS_A_CASE = "OpenCase"
UNREADABLE = "[unreadable]"
"""What a sealed field reads as when its key exists but it does not open where it is (moved from
another event, field or case, or altered): never another field's plaintext."""


@cache
def command_personal_fields(command_type: str) -> tuple[str, ...]:
    """The personal payload fields of a command type (none for an unknown type)."""
    model = COMMAND_PAYLOADS.get(command_type)
    return tuple(personal_fields(model)) if model is not None else ()


@cache
def event_personal_fields(event_type: str) -> dict[str, PersonalData]:
    """The personal payload fields of an event type, with their marks (none when unknown)."""
    registered = BY_NAME.get(event_type)
    return personal_fields(registered.event_class) if registered is not None else {}


def carries_personal_data(envelope: Mapping[str, Any]) -> bool:
    """Whether a command envelope holds a personal field in plaintext (one to seal)."""
    payload, kind = envelope.get("payload"), envelope.get("type")
    if not isinstance(payload, Mapping) or not isinstance(kind, str):
        return False
    return any(isinstance(payload.get(name), str) for name in command_personal_fields(kind))


def subject_of_new_case(envelope: Mapping[str, Any]) -> str | None:
    """The data subject an ``OpenCase`` names (its customer); None for other commands."""
    if envelope.get("type") != OPENS_A_CASE:
        return None
    customer = (envelope.get("payload") or {}).get("customer_id")
    return customer if isinstance(customer, str) and customer else None


def field_context(envelope: Mapping[str, Any], name: str, subject: str) -> FieldContext:
    """Where field ``name`` of a command or event envelope belongs."""
    return FieldContext(
        aggregate_id=str(envelope["aggregate_id"]),
        command_id=str(envelope["command_id"]),
        path=f"payload.{name}",
        subject=subject,
    )


def seal_command(envelope: Mapping[str, Any], key: SubjectKey) -> dict[str, Any]:
    """A copy of the command ``envelope`` whose plaintext personal fields are sealed with
    ``key`` (its subject must be the case's customer); the other fields are unchanged."""
    payload = dict(envelope.get("payload") or {})
    canonical = {  # as the events will name them (UUIDs in their canonical text)
        "aggregate_id": str(UUID(str(envelope["aggregate_id"]))),
        "command_id": str(UUID(str(envelope["command_id"]))),
    }
    for name in command_personal_fields(envelope["type"]):
        value = payload.get(name)
        if isinstance(value, str):
            context = field_context(canonical, name, key.subject)
            payload[name] = seal(key.key, key.kid, value, context)
    return {**envelope, "payload": payload}


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """One personal field of an event type, as the read side opens it."""

    name: str
    path: str
    """``payload.<name>``: the field's place in its associated data."""
    mask: str
    """What it reads as once its subject is erased."""


@cache
def event_field_plan(event_type: str) -> tuple[FieldPlan, ...]:
    """The personal fields of an event type, ready for the read side (none when unknown)."""
    return tuple(
        FieldPlan(name, f"payload.{name}", mark.mask)
        for name, mark in event_personal_fields(event_type).items()
    )


Openers = Mapping[str, tuple[AESGCM, str]]
"""Live keys ready to open fields: key id -> (its AES-GCM, its subject)."""


def openers(keys: Mapping[str, SubjectKey]) -> dict[str, tuple[AESGCM, str]]:
    """``keys`` (kid -> key, from a key store) ready for :func:`open_fields`."""
    return {kid: (opener_for(key.key), key.subject) for kid, key in keys.items()}


def sealed_kids(envelopes: Iterable[Mapping[str, Any]]) -> set[str]:
    """The key ids the personal fields of these event envelopes were sealed with."""
    kids: set[str] = set()
    for envelope in envelopes:
        payload = envelope.get("payload") or {}
        for field in event_field_plan(str(envelope["type"])):
            value = payload.get(field.name)
            if is_sealed(value) and isinstance(value.get("kid"), str):
                kids.add(value["kid"])
    return kids


def open_event(envelope: Mapping[str, Any], keys: Mapping[str, SubjectKey]) -> Mapping[str, Any]:
    """``envelope`` with its sealed personal fields opened by ``keys`` (kid -> key), or read as
    their mask (``[erased]``) when the key is gone, or :data:`UNREADABLE` when it does not open
    where it is (a ciphertext moved from elsewhere never yields another field's text). Plaintext
    fields (events written before encryption) are left as they are; ``envelope`` itself is not
    changed."""
    return open_fields(envelope, openers(keys))


def open_fields(
    envelope: Mapping[str, Any], ready: Openers, *, erased: bool = False
) -> Mapping[str, Any]:
    """:func:`open_event` with keys made ready (:func:`openers`); with ``erased`` (the case's
    subject is erased) plaintext personal fields read as their masks too; ``envelope`` itself
    is unchanged. (:class:`~supportes.privacy.opener.EventOpener` opens whole batches.)"""
    plan = event_field_plan(envelope["type"])
    if not plan:
        return envelope
    payload = envelope.get("payload") or {}
    opened: dict[str, Any] | None = None
    for field in plan:
        value = payload.get(field.name)
        if value is None:
            continue
        if isinstance(value, str):
            if not erased:
                continue
            text = field.mask
        elif is_sealed(value):
            text = open_field(field, value, ready, envelope["aggregate_id"], envelope["command_id"])
        else:
            continue
        if opened is None:
            opened = dict(payload)
        opened[field.name] = text
    return envelope if opened is None else {**envelope, "payload": opened}


def open_field(
    field: FieldPlan,
    sealed: Mapping[str, Any],
    ready: Openers,
    aggregate_id: object,
    command_id: object,
) -> str:
    """One sealed ``field`` of the event ``aggregate_id``/``command_id`` opened with ``ready``:
    its text, its mask when the key is gone, or :data:`UNREADABLE` when it does not open
    where it is."""
    kid = sealed.get("kid")
    if not isinstance(kid, str) or not kid:
        return UNREADABLE
    found = ready.get(kid)
    if found is None:
        return field.mask
    aead, subject = found
    try:
        return open_sealed(aead, kid, sealed, aggregate_id, command_id, field.path, subject)
    except UnreadableFieldError:
        return UNREADABLE
