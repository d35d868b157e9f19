"""Upcasters: old ``schema_version`` payloads are rewritten to the current schema when read.

Each upcaster takes a payload at version ``v`` and returns it at ``v + 1``; it must be pure.
Examples kept as real evolutions: ``CaseOpened`` v1 had no ``tags``; v2 adds ``tags`` (``[]``);
v3 adds ``follow_up_of`` and ``suggested_owner_id`` (``None``: cases opened before them were no
follow-ups and named no owner).
To change an event's payload: bump its schema version in :mod:`~supportes.aggregates.wire`
and register the upcaster from the previous version here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from supportes.aggregates.errors import EnvelopeError

PayloadUpcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _case_opened_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "tags": []}


def _case_opened_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "follow_up_of": None, "suggested_owner_id": None}


UPCASTERS: dict[tuple[str, int], PayloadUpcaster] = {
    ("CaseOpened", 1): _case_opened_v1_to_v2,
    ("CaseOpened", 2): _case_opened_v2_to_v3,
}
"""``(wire type, from schema_version)`` -> upcaster to ``from + 1``."""


def upcast(envelope: Mapping[str, Any], current_version: int) -> dict[str, Any]:
    """``envelope`` with its payload upcast to ``current_version``: a copy when upcast, the
    envelope itself when it already is at that version (it is checked, never changed)."""
    wire_type = envelope.get("type")
    version = envelope.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EnvelopeError(f"{wire_type}: bad schema_version {version!r}")
    if version > current_version:
        raise EnvelopeError(
            f"{wire_type}: schema_version {version} is newer than this code ({current_version})"
        )
    payload = envelope.get("payload")
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise EnvelopeError(f"{wire_type}: payload is not an object")
    if version == current_version:
        return envelope if isinstance(envelope, dict) else dict(envelope)
    upgraded = dict(payload)
    while version < current_version:
        step = UPCASTERS.get((str(wire_type), version))
        if step is None:
            raise EnvelopeError(f"{wire_type}: no upcaster from schema_version {version}")
        upgraded = step(upgraded)
        version += 1
    return {**envelope, "schema_version": version, "payload": upgraded}
