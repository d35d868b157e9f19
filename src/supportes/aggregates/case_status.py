"""Where a case stands: its lifecycle status, its follow-up state, and the reasons the case
itself gives when it reopens (used by :mod:`supportes.aggregates.case` and its handler modules).
"""

from __future__ import annotations

from enum import StrEnum

REASON_CUSTOMER_REPLIED = "customer replied"
REASON_FOLLOW_UP_NOT_RESOLVED = "follow-up: not resolved"


class CaseStatus(StrEnum):
    """Lifecycle status of a case."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    CLOSED = "closed"


class FollowUpState(StrEnum):
    """Where the post-resolution follow-up stands."""

    NOT_DUE = "not_due"  # not resolved (yet, or again after a reopening)
    PENDING = "pending"  # resolved; the follow-up is still to be recorded or waived
    CONFIRMED = "confirmed"
    NO_RESPONSE = "no_response"
    WAIVED = "waived"


SETTLED_FOLLOW_UPS = frozenset(
    {FollowUpState.CONFIRMED, FollowUpState.NO_RESPONSE, FollowUpState.WAIVED}
)
