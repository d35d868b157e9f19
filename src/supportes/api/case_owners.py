"""The customer of each case, remembered: a case's customer is fixed by its first event and never
changes, so the answer of the event index can be kept (bounded, least recently used first out).

Only found customers are kept: a case not opened yet may be opened a moment later. Used from the
event loop only (no lock).
"""

from __future__ import annotations

from collections import OrderedDict
from uuid import UUID

CASE_OWNERS_KEPT = 100_000
"""Cases remembered per API process (~20 MB at most)."""


class CaseOwners:
    """A bounded map of case id to customer id, least recently used forgotten first."""

    def __init__(self, capacity: int = CASE_OWNERS_KEPT) -> None:
        if capacity < 1:
            raise ValueError("capacity: must be at least 1")
        self.capacity = capacity
        self._owners: OrderedDict[UUID, str] = OrderedDict()

    def get(self, case_id: UUID) -> str | None:
        """The remembered customer of ``case_id``, or None."""
        owner = self._owners.get(case_id)
        if owner is not None:
            self._owners.move_to_end(case_id)
        return owner

    def remember(self, case_id: UUID, customer_id: str) -> None:
        """Keep ``customer_id`` as the customer of ``case_id``."""
        self._owners[case_id] = customer_id
        self._owners.move_to_end(case_id)
        if len(self._owners) > self.capacity:
            self._owners.popitem(last=False)

    def __len__(self) -> int:
        return len(self._owners)
