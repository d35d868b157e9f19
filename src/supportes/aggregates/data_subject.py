"""The ``DataSubject`` aggregate: a customer whose personal data was erased (design section 9).

One aggregate per customer, with the id :func:`subject_aggregate_id` derives from the customer id
alone, so every process (the CLI recording an erasure, the writer, an auditor) names the same
one. ``EraseSubject`` creates it with ``SubjectErased``, which holds no personal data: the
customer id and the fingerprints of the destroyed data keys. Interpretations:

* An erasure is recorded once: a second ``EraseSubject`` for the customer is ``already_exists``
  (dispatch's rule for creating commands); erasing again changes nothing anyway.
* A command whose ``aggregate_id`` is not the customer's subject id is ``invalid`` naming
  ``aggregate_id``: an erasure filed under another id would not be found by that customer's id.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from supportes.aggregates.base import SupportAggregate, reject
from supportes.aggregates.commands import CommandPayload, EraseSubject, ParsedCommand
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.personal import personal_fields

SUBJECT_NAMESPACE = UUID("42b59446-432d-4ad4-bcdc-15173a8b99db")
"""The uuid5 namespace of data-subject aggregate ids. Fixed forever: changing it would give every
customer a second subject id, and a second erasure record."""


def subject_aggregate_id(customer_id: str) -> UUID:
    """The aggregate id of ``customer_id``'s data subject: ``uuid5(SUBJECT_NAMESPACE,
    customer_id)`` (the id ``EraseSubject`` must be sent to; the CLI computes it so)."""
    return uuid5(SUBJECT_NAMESPACE, customer_id)


class DataSubject(SupportAggregate):
    """A customer as a data subject: erased once, with the fingerprints of its keys."""

    aggregate_type = "DataSubject"

    def __init__(self) -> None:
        super().__init__()
        self.customer_id: str = ""
        self.key_fingerprints: list[str] = []

    def derived_facts(self) -> dict[str, Any]:
        """Facts computed from state, for snapshots."""
        erased_at: datetime = self.created_on
        return {"erased_at": erased_at}

    # --- events --------------------------------------------------------------------------

    class Event(SupportAggregate.Event):
        """Base of data-subject events."""

    class SubjectErased(Event, Aggregate.Created):
        """The customer's personal data was erased (its keys destroyed); no personal data."""

        customer_id: str
        key_fingerprints: tuple[str, ...]

        def apply(self, aggregate: DataSubject) -> None:
            aggregate.customer_id = self.customer_id
            aggregate.key_fingerprints = list(self.key_fingerprints)

    # --- command handlers ----------------------------------------------------------------

    @classmethod
    def erase(cls, command: ParsedCommand[EraseSubject]) -> DataSubject:
        """``EraseSubject`` -> ``SubjectErased``; ``invalid`` on another aggregate id."""
        p = command.payload
        expected = subject_aggregate_id(p.customer_id)
        if command.aggregate_id != expected:
            raise reject(
                ErrorCode.INVALID,
                f"aggregate_id: must be the customer's subject id, uuid5({SUBJECT_NAMESPACE}, "
                f"customer_id) = {expected}",
                "aggregate_id",
            )
        return cls._create(
            cls.SubjectErased,
            id=command.aggregate_id,
            timestamp=command.issued_at,
            customer_id=p.customer_id,
            key_fingerprints=tuple(p.key_fingerprints),
        )


# --- personal data of an erased subject ------------------------------------------------------


def subject_of_command(command: ParsedCommand[Any], current: object) -> str | None:
    """Whose personal data ``command`` would carry: an ``OpenCase``'s customer, or the customer
    of the case it acts on (``current``); None for commands without personal fields, or when
    the case is unknown (no customer to ask about)."""
    schema: type[CommandPayload] = type(command.payload)
    values = [getattr(command.payload, name, None) for name in personal_fields(schema)]
    if all(value is None for value in values):
        return None
    customer = getattr(command.payload, "customer_id", None) if command.type == "OpenCase" else None
    if customer is None:
        customer = getattr(current, "customer_id", None)
    return customer if isinstance(customer, str) and customer else None


def refuse_personal_data_of_erased(
    command: ParsedCommand[Any], current: object, erased: Collection[str]
) -> None:
    """Raise ``subject_erased`` when ``command`` carries personal data (sealed or not) of a
    customer in ``erased``: the writer's own check, behind the front doors' (which a command
    sealed in the second before an erasure, or a client that does not seal, would pass)."""
    subject = subject_of_command(command, current) if erased else None
    if subject is not None and subject in erased:
        raise reject(
            ErrorCode.SUBJECT_ERASED,
            "the customer's personal data was erased; a command with personal data (free"
            " text) for them cannot be taken",
            "payload",
        )
