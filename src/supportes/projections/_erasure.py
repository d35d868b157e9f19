"""Erasure in the projections (design section 9), shared by those that store personal text.

``SubjectErased`` names a customer whose keys were destroyed. From then on each personal field
of that customer's events reaches the projections as its mask (``[erased]``, the field's
:class:`~supportes.aggregates.personal.PersonalData`), so a rebuild holds masks only. A
projection that stores personal text makes its live tables say the same: for every case of the
customer it finds in its own tables, each stored text taken from a personal field becomes what
the fold of the masked events gives. It does so at the end of the batch, after the batch's other
events, so an event of the customer's in the same batch, in either order, is masked as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supportes.aggregates.personal import personal_fields
from supportes.aggregates.wire import BY_NAME
from supportes.projections.base import LoggedEvent

SUBJECT_ERASED = "SubjectErased"
"""The wire type of the erasure event (a ``DataSubject`` event)."""


def erased_customers(events: Iterable[LoggedEvent]) -> list[str]:
    """The customers erased by ``events`` (``SubjectErased``), sorted, each once."""
    return sorted({str(e.payload["customer_id"]) for e in events if e.type == SUBJECT_ERASED})


def without_erasures(events: Sequence[LoggedEvent]) -> Sequence[LoggedEvent]:
    """``events`` less the ``SubjectErased`` ones (the same sequence when there are none)."""
    if all(e.type != SUBJECT_ERASED for e in events):
        return events
    return [e for e in events if e.type != SUBJECT_ERASED]


def mask_of(event_type: str, field: str) -> str:
    """What personal field ``field`` of ``event_type`` reads as once its subject is erased."""
    return personal_fields(BY_NAME[event_type].event_class)[field].mask


def common_mask(sources: Mapping[str, Iterable[str]]) -> str:
    """The one mask of every personal field named (event type -> fields): for a stored text
    built from several of them. Raises ``RuntimeError`` (a programming error) when a field is
    not personal or their masks differ."""
    masks = {mask_of(kind, field) for kind, fields in sources.items() for field in fields}
    if len(masks) != 1:
        raise RuntimeError(f"the fields {dict(sources)} do not share one mask: {masks}")
    return masks.pop()


def masked_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with each personal field that holds something replaced by its mask (what
    the event reads as once its subject is erased); absent or null fields stay as they are, and
    so does the payload of a type no longer registered."""
    registered = BY_NAME.get(event_type)
    masked = dict(payload)
    if registered is None:
        return masked
    for name, mark in personal_fields(registered.event_class).items():
        if masked.get(name) is not None:
            masked[name] = mark.mask
    return masked
