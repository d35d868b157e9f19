"""Sealing the events of a log written before encryption (the one-time migration of issue 16).

:class:`EventSealer` takes one partition's event envelopes in log order and gives each back as
the current schema holds it, with every personal field in plaintext sealed with its case
customer's key (the same context a front door would have used: aggregate, the event's command,
``payload.<field>``, customer), an erased customer's plaintext replaced by its mask, and the
aggregate's hash chain re-linked over the new bytes (``prev_hash``, ``hash``; HMAC with the
audit key when one is set). Fields already sealed are kept. Pure but for the key store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supportes.aggregates import hashchain
from supportes.aggregates.wire import current_envelope
from supportes.privacy.cipher import FieldContext, seal
from supportes.privacy.keystore import KeyStore, SubjectErasedError, SubjectKey
from supportes.privacy.sealing import event_field_plan

CASE_OPENED = "CaseOpened"


@dataclass
class SealingCounts:
    """What :class:`EventSealer` did."""

    events: int = 0
    sealed_fields: int = 0
    masked_fields: int = 0
    """Plaintext of an erased customer, replaced by its mask (nothing left to seal it for)."""
    unknown_customer: set[str] = field(default_factory=set)
    """Aggregates holding personal text whose customer is unknown (left in plaintext)."""


class EventSealer:
    """Seals and re-chains the events of one partition, in log order (call :meth:`reset`
    between partitions: an aggregate lives in one partition)."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        audit_key: bytes | None,
        customer_of: Callable[[str], str | None] = lambda case_id: None,
    ) -> None:
        self._keys = keys
        self._audit_key = audit_key
        self._customer_of = customer_of
        self._heads: dict[str, str] = {}
        self._customers: dict[str, str] = {}
        self._subject_keys: dict[str, SubjectKey | None] = {}
        self.counts = SealingCounts()

    def reset(self) -> None:
        """Forget the chains' heads and customers of the partition done."""
        self._heads.clear()
        self._customers.clear()
        self._subject_keys.clear()

    def seal(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The event ``stored`` (as read off the old log) sealed and linked to the chain so far
        (EnvelopeError when it is not an event envelope)."""
        envelope = current_envelope(stored)[1]
        aggregate_id = str(envelope["aggregate_id"])
        payload = dict(envelope.get("payload") or {})
        if envelope["type"] == CASE_OPENED and isinstance(payload.get("customer_id"), str):
            self._customers[aggregate_id] = payload["customer_id"]
        for plan in event_field_plan(str(envelope["type"])):
            text = payload.get(plan.name)
            if not isinstance(text, str):
                continue  # absent, or sealed already
            customer = self._customers.get(aggregate_id) or self._customer_of(aggregate_id)
            if customer is None:
                self.counts.unknown_customer.add(aggregate_id)
                continue
            self._customers[aggregate_id] = customer
            key = self._key_of(customer)
            if key is None:
                payload[plan.name] = plan.mask
                self.counts.masked_fields += 1
                continue
            where = FieldContext(aggregate_id, str(envelope["command_id"]), plan.path, customer)
            payload[plan.name] = seal(key.key, key.kid, text, where)
            self.counts.sealed_fields += 1
        linked = {**envelope, "payload": payload, "prev_hash": self._heads.get(aggregate_id)}
        chained = hashchain.seal(linked, self._audit_key)
        self._heads[aggregate_id] = chained["hash"]
        self.counts.events += 1
        return chained

    def _key_of(self, customer: str) -> SubjectKey | None:
        """The customer's key (made on first use), None once erased; asked once per partition."""
        if customer not in self._subject_keys:
            try:
                self._subject_keys[customer] = self._keys.key_for(customer)
            except SubjectErasedError:
                self._subject_keys[customer] = None
        return self._subject_keys[customer]
