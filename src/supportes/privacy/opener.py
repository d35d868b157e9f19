"""Opening the sealed personal fields of a batch of logged events, for the read side.

One key lookup per batch (the key generation, then the keys not kept in memory: a key
destroyed by an erasure is never used again, whichever process erased it); each event's
``envelope`` becomes the opened one, and ``stored`` keeps the sealed one the log holds.

Personal fields in plaintext (events from before encryption, texts the domain writes itself)
of a case whose customer is erased read as their masks too: so a rebuild, which may meet them
after the ``SubjectErased`` of another partition, gives what the live projections gave by
masking them when it came (one more lookup, only for batches holding such fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from supportes.aggregates.personal import SEALED_MARK, SEALED_VERSION, is_sealed
from supportes.privacy.keystore import KeyStore
from supportes.privacy.sealing import FieldPlan, event_field_plan, open_field, openers
from supportes.projections.base import LoggedEvent


class EventOpener:
    """Opens batches of :class:`LoggedEvent` with the keys of a :class:`KeyStore`."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def close(self) -> None:
        """Release the key store's connections (when it has any)."""
        close = getattr(self._keys, "close", None)
        if close is not None:
            close()

    def open(self, events: Sequence[LoggedEvent]) -> None:
        """Open (or mask) the personal fields of ``events`` in place: one pass to find them,
        one key lookup, then only the events that hold personal fields are visited again."""
        found, kids, plain = _personal_fields_of(events)
        if not found:
            return
        ready = openers(self._keys.keys_by_kid(kids)) if kids else {}
        erased = self._keys.erased_cases(plain) if plain else set()
        for event, fields in found:
            stored = event.stored
            aggregate_id, command_id = stored["aggregate_id"], stored["command_id"]
            erased_case = aggregate_id in erased
            payload = dict(stored["payload"])
            changed = False
            for field, sealed in fields:
                if sealed is not None:
                    payload[field.name] = open_field(field, sealed, ready, aggregate_id, command_id)
                elif erased_case:
                    payload[field.name] = field.mask
                else:
                    continue
                changed = True
            if changed:
                event.envelope = {**stored, "payload": payload}
                event.payload = payload


_Found = list[tuple[LoggedEvent, list[tuple[FieldPlan, Mapping[str, Any] | None]]]]


def _personal_fields_of(events: Sequence[LoggedEvent]) -> tuple[_Found, set[str], set[str]]:
    """The events holding personal fields, each with its fields (the sealed value, or None for
    plaintext); the key ids named; the cases with a plaintext personal field."""
    found: _Found = []
    kids: set[str] = set()
    plain: set[str] = set()
    for event in events:
        stored = event.stored
        plan = event_field_plan(stored["type"])
        if not plan:
            continue
        payload = stored.get("payload")
        if not payload:
            continue
        fields: list[tuple[FieldPlan, Mapping[str, Any] | None]] = []
        for field in plan:
            value = payload.get(field.name)
            if value is None:
                continue
            if isinstance(value, str):
                plain.add(str(stored["aggregate_id"]))
                fields.append((field, None))
            elif _sealed(value):
                kid = value.get("kid")
                if isinstance(kid, str):
                    kids.add(kid)
                fields.append((field, value))
        if fields:
            found.append((event, fields))
    return found, kids, plain


def _sealed(value: object) -> TypeGuard[Mapping[str, Any]]:
    """:func:`~supportes.aggregates.personal.is_sealed`, a decoded JSON object first (cheap)."""
    if isinstance(value, dict):
        return value.get(SEALED_MARK) == SEALED_VERSION
    return is_sealed(value)
