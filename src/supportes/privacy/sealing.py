"""Sealing a command's personal fields, and opening an event's, by the domain's declarations.

Which fields are personal is read from the schemas (:func:`~supportes.aggregates.personal.
personal_fields`); each is sealed with its subject's key in the context (aggregate id, command
id, ``payload.<field>``, subject). An event copies its fields from its command under the same
names, so the event's field opens in the context of its ``command_id``: moved anywhere else, it
does not open. Pure functions: the keys come from the caller (a key store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any
from uuid import UUID

from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.personal import PersonalData, personal_fields
from supportes.aggregates.wire import BY_NAME
from supportes.privacy.cipher import (
    FieldContext,
    UnreadableFieldError,
    is_sealed,
    seal,
    sealed_kid,
    unseal_at,
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


def sealed_kids(envelopes: Iterable[Mapping[str, Any]]) -> set[str]:
    """The key ids the personal fields of these event envelopes were sealed with."""
    kids: set[str] = set()
    for envelope in envelopes:
        fields = event_personal_fields(str(envelope["type"]))
        if not fields:
            continue
        payload = envelope.get("payload") or {}
        for name in fields:
            value = payload.get(name)
            if is_sealed(value):
                kid = value.get("kid")
                if isinstance(kid, str):
                    kids.add(kid)
    return kids


def holds_plaintext(envelope: Mapping[str, Any]) -> bool:
    """Whether an event envelope has a personal field in plaintext (written before encryption,
    or a text the domain wrote itself, such as a reopening's reason)."""
    payload = envelope.get("payload") or {}
    return any(
        isinstance(payload.get(n), str) for n in event_personal_fields(str(envelope["type"]))
    )


def mask_plaintext(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """``envelope`` with its plaintext personal fields read as their masks (its subject was
    erased); sealed fields are left to :func:`open_event`."""
    payload = envelope.get("payload") or {}
    masked = {
        name: mark.mask
        for name, mark in event_personal_fields(str(envelope["type"])).items()
        if isinstance(payload.get(name), str)
    }
    return {**envelope, "payload": {**payload, **masked}} if masked else envelope


def open_event(envelope: Mapping[str, Any], keys: Mapping[str, SubjectKey]) -> Mapping[str, Any]:
    """``envelope`` with its sealed personal fields opened by ``keys`` (kid -> key), or read as
    their mask (``[erased]``) when the key is gone, or :data:`UNREADABLE` when it does not open
    where it is (a ciphertext moved from elsewhere never yields another field's text). Plaintext
    fields (events
    written before encryption) are left as they are; ``envelope`` itself is not changed."""
    fields = event_personal_fields(str(envelope["type"]))
    if not fields:
        return envelope
    payload = envelope.get("payload") or {}
    opened: dict[str, Any] | None = None
    for name, mark in fields.items():
        value = payload.get(name)
        if not is_sealed(value):
            continue
        if opened is None:
            opened = dict(payload)
        opened[name] = _open_field(envelope, name, value, keys, mark)
    return envelope if opened is None else {**envelope, "payload": opened}


def _open_field(
    envelope: Mapping[str, Any],
    name: str,
    sealed: Mapping[str, Any],
    keys: Mapping[str, SubjectKey],
    mark: PersonalData,
) -> str:
    try:
        key = keys.get(sealed_kid(sealed))
        if key is None:
            return mark.mask
        return unseal_at(
            key.key,
            sealed,
            aggregate_id=str(envelope["aggregate_id"]),
            command_id=str(envelope["command_id"]),
            path=f"payload.{name}",
            subject=key.subject,
        )
    except UnreadableFieldError:
        return UNREADABLE
