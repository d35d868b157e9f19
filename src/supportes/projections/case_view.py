"""``case_view``: one row per case, folded from the case's own events.

Besides the case's own state, ``previous_case_id`` and (for cases never reopened, and opened
without a suggested owner) ``suggested_owner_id`` come from the customer's other cases: the case
opened just before this one (by ``opened_at``, then ``case_id``) and its current owner. A
suggested owner named by ``OpenCase`` (``opening_suggested_owner_id``: channel intake names the
owner of the case a follow-up follows, ``follow_up_of``) wins over that until a reopening.
They are recomputed at the end of each batch for the cases opened in it and for the case right
after each case opened or re-owned in it (a case's own re-owning changes neither), so the result
does not depend on the order in which cases' events arrive.

``SubjectErased`` (:mod:`._erasure`): the texts of :data:`PERSONAL_COLUMNS` of the customer's
cases become their masks, last in the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2.extensions

from supportes.aggregates.reference import case_reference
from supportes.projections._common import CASE_EVENTS, Fold, Row, parse_time
from supportes.projections._erasure import (
    SUBJECT_ERASED,
    erased_customers,
    mask_of,
    without_erasures,
)
from supportes.projections._pg import (
    as_tuples,
    copy_rows,
    execute_keyed,
    fetch_rows,
    update_rows,
)
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

TABLE = "case_view"
COLUMNS = (
    "case_id", "reference", "customer_id", "channel", "subject", "description", "category",
    "product", "tags", "priority", "status", "owner_id", "responsible_id", "suggested_owner_id",
    "previous_case_id", "owners", "distinct_owners", "escalations", "escalated", "opened_at",
    "acknowledged_at", "first_resolved_at", "resolved_at", "closed_at", "last_reopened_at",
    "reopen_count", "inbound_contacts", "outbound_contacts", "resolution", "resolved_by_id",
    "follow_up_status", "follow_up_due_at", "callback_due_at", "callback_agent_id",
    "fixes_applied", "known_answers_given", "root_cause_id", "csat_score", "csat_owner_id",
    "rated_at", "suggestions", "first_contact_resolution", "last_customer_update_at",
    "updated_at", "version", "follow_up_of", "opening_suggested_owner_id",
)  # fmt: skip
STATIC = frozenset({
    "customer_id", "channel", "subject", "description", "category", "product", "tags",
    "priority", "opened_at", "previous_case_id", "follow_up_of", "opening_suggested_owner_id",
})  # fmt: skip
"""Columns never changed by a fold after ``CaseOpened`` (``previous_case_id``: by SQL)."""
MUTABLE = tuple(c for c in COLUMNS if c not in STATIC)
"""What is read back and rewritten for cases opened in earlier batches (``case_id`` first)."""
OWNER_EVENTS = frozenset({"CaseOpened", "CaseAssigned", "ResponsibilityTaken", "CaseEscalated"})
PERSONAL_COLUMNS = {
    "subject": mask_of("CaseOpened", "subject"),
    "description": mask_of("CaseOpened", "description"),
    "resolution": mask_of("CaseResolved", "resolution"),
}
"""Column -> its mask: the columns holding a personal field's text (each from one field)."""
_ERASE = (
    "UPDATE case_view SET "
    + ", ".join(f"{c} = CASE WHEN {c} IS NULL THEN NULL ELSE %({c})s END" for c in PERSONAL_COLUMNS)
    + " WHERE customer_id = ANY(%(customers)s) AND ("
    + " OR ".join(f"{c} <> %({c})s" for c in PERSONAL_COLUMNS)
    + ")"
)
"""Mask the texts of the erased ``customers``' cases (rows already masked are left alone)."""

_SUGGESTIONS = """
WITH changed AS (
    SELECT case_id, customer_id, opened_at FROM case_view WHERE case_id = ANY(%(reowned)s::uuid[])
), targets AS (
    SELECT unnest(%(created)s::uuid[]) AS case_id
    UNION
    SELECT nxt.case_id FROM changed c CROSS JOIN LATERAL (
        SELECT x.case_id FROM case_view x
        WHERE x.customer_id = c.customer_id AND (x.opened_at, x.case_id) > (c.opened_at, c.case_id)
        ORDER BY x.opened_at, x.case_id LIMIT 1
    ) nxt
), computed AS (
    SELECT v.case_id, prev.case_id AS previous_case_id, prev.owner_id AS previous_owner_id
    FROM targets t JOIN case_view v ON v.case_id = t.case_id
    LEFT JOIN LATERAL (
        SELECT x.case_id, x.owner_id FROM case_view x
        WHERE x.customer_id = v.customer_id AND (x.opened_at, x.case_id) < (v.opened_at, v.case_id)
        ORDER BY x.opened_at DESC, x.case_id DESC LIMIT 1
    ) prev ON true
)
UPDATE case_view c
SET previous_case_id = m.previous_case_id,
    suggested_owner_id = CASE WHEN c.reopen_count > 0 THEN c.suggested_owner_id
                              ELSE coalesce(c.opening_suggested_owner_id, m.previous_owner_id) END
FROM computed m
WHERE c.case_id = m.case_id
  AND (c.previous_case_id IS DISTINCT FROM m.previous_case_id
       OR (c.reopen_count = 0 AND c.suggested_owner_id
           IS DISTINCT FROM coalesce(c.opening_suggested_owner_id, m.previous_owner_id)))
"""


def opened(event: LoggedEvent) -> Row:
    """A new row from ``CaseOpened``."""
    env = event.envelope
    p = env["payload"]
    at = event.occurred_at
    suggested = p.get("suggested_owner_id")
    return {
        "case_id": env["aggregate_id"], "reference": p.get("reference")
        or case_reference(event.aggregate_id), "customer_id": p["customer_id"],
        "channel": p["channel"], "subject": p["subject"], "description": p["description"],
        "category": p.get("category"), "product": p.get("product"),
        "tags": list(p.get("tags") or ()),
        "priority": p.get("priority") or "normal", "status": "new", "owner_id": None,
        "responsible_id": None, "suggested_owner_id": suggested, "previous_case_id": None,
        "owners": [],
        "distinct_owners": 0, "escalations": 0, "escalated": False, "opened_at": at,
        "acknowledged_at": None, "first_resolved_at": None, "resolved_at": None,
        "closed_at": None, "last_reopened_at": None, "reopen_count": 0, "inbound_contacts": 1,
        "outbound_contacts": 0, "resolution": None, "resolved_by_id": None,
        "follow_up_status": "not_due", "follow_up_due_at": None, "callback_due_at": None,
        "callback_agent_id": None, "fixes_applied": 0, "known_answers_given": 0,
        "root_cause_id": None, "csat_score": None, "csat_owner_id": None, "rated_at": None,
        "suggestions": 0, "first_contact_resolution": False, "last_customer_update_at": None,
        "updated_at": at, "version": env["version"], "follow_up_of": p.get("follow_up_of"),
        "opening_suggested_owner_id": suggested,
    }  # fmt: skip


def _set_owner(row: Row, agent_id: str) -> None:
    row["owner_id"] = agent_id
    if agent_id not in row["owners"]:
        row["owners"] = [*row["owners"], agent_id]
    if row["status"] in ("new", "acknowledged"):
        row["status"] = "assigned"


def _contact(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    if p["direction"] == "inbound":
        row["inbound_contacts"] += 1
    else:
        row["outbound_contacts"] += 1
        row["last_customer_update_at"] = e.occurred_at


def _reopened(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["reopen_count"] += 1
    row["last_reopened_at"] = e.occurred_at
    row["suggested_owner_id"] = p.get("suggested_owner_id")
    if row["owner_id"] is not None:
        row["status"] = "assigned"
    elif row["acknowledged_at"] is not None:
        row["status"] = "acknowledged"
    else:
        row["status"] = "new"
    row["resolved_at"] = row["closed_at"] = row["follow_up_due_at"] = None
    row["follow_up_status"] = "not_due"


def _acknowledged(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["acknowledged_at"] = row["last_customer_update_at"] = e.occurred_at
    row["reference"] = p.get("reference") or row["reference"]
    if row["status"] == "new":
        row["status"] = "acknowledged"


def _assigned(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    _set_owner(row, p["agent_id"])


def _responsibility(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["responsible_id"] = p["agent_id"]
    _set_owner(row, p.get("owner_id") or row["owner_id"] or p["agent_id"])


def _escalated(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["escalations"] += 1
    row["escalated"] = True
    row["responsible_id"] = p["to_agent_id"]
    _set_owner(row, p["to_agent_id"])


def _customer_updated(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["last_customer_update_at"] = e.occurred_at


def _callback_scheduled(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["callback_due_at"] = parse_time(p["due_at"])
    row["callback_agent_id"] = p.get("agent_id")


def _callback_completed(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["callback_due_at"] = row["callback_agent_id"] = None
    row["last_customer_update_at"] = e.occurred_at


def _fix(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["fixes_applied"] += 1
    if p.get("known_answer_id") is not None:
        row["known_answers_given"] += 1


def _resolved(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["status"] = "resolved"
    row["resolution"] = p["resolution"]
    row["resolved_by_id"] = p.get("owner_id")
    row["resolved_at"] = e.occurred_at
    if row["first_resolved_at"] is None:
        row["first_resolved_at"] = e.occurred_at
    row["follow_up_status"] = "pending"


def _root_cause(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["root_cause_id"] = p["root_cause_id"]


def _root_cause_undone(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["root_cause_id"] = p["linked_root_cause_id"]


def _follow_up_scheduled(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["follow_up_due_at"] = parse_time(p["due_at"])


def _follow_up_recorded(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["follow_up_due_at"] = None
    if p["outcome"] in ("confirmed", "no_response"):
        row["follow_up_status"] = p["outcome"]
    # not_resolved: the CaseReopened of the same decision follows.


def _follow_up_waived(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["follow_up_status"] = "waived"
    row["follow_up_due_at"] = None


def _rated(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["csat_score"] = p["score"]
    row["csat_owner_id"] = p.get("owner_id")
    row["rated_at"] = e.occurred_at


def _closed(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["status"] = "closed"
    row["closed_at"] = e.occurred_at


def _suggestion(row: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    row["suggestions"] += 1


FOLDS: dict[str, Fold] = {
    "ContactRecorded": _contact,
    "CaseReopened": _reopened,
    "CaseAcknowledged": _acknowledged,
    "CaseAssigned": _assigned,
    "ResponsibilityTaken": _responsibility,
    "CaseEscalated": _escalated,
    "CustomerUpdated": _customer_updated,
    "CallbackScheduled": _callback_scheduled,
    "CallbackCompleted": _callback_completed,
    "FixApplied": _fix,
    "CaseResolved": _resolved,
    "RootCauseLinked": _root_cause,
    "RootCauseLinkUndone": _root_cause_undone,
    "FollowUpScheduled": _follow_up_scheduled,
    "FollowUpRecorded": _follow_up_recorded,
    "FollowUpWaived": _follow_up_waived,
    "RootCauseWaived": lambda row, e, p: None,  # on the timeline; the queue and metrics use it
    "SatisfactionRated": _rated,
    "CaseClosed": _closed,
    "SuggestionNoted": _suggestion,
}
"""Event type -> fold step (``CaseOpened`` creates the row: :func:`opened`)."""


def fold(rows: dict[str, Row], events: Sequence[LoggedEvent]) -> None:
    """Fold ``events`` into ``rows`` (by case id) in place."""
    for event in events:
        env = event.envelope
        kind = env["type"]
        if kind == "CaseOpened":
            rows[env["aggregate_id"]] = opened(event)
            continue
        row = rows[env["aggregate_id"]]
        FOLDS[kind](row, event, env["payload"])
        row["version"] = env["version"]
        row["updated_at"] = event.occurred_at
    for row in rows.values():
        row["distinct_owners"] = len(row["owners"])
        row["first_contact_resolution"] = (
            row["status"] in ("resolved", "closed")
            and row["inbound_contacts"] == 1
            and row["reopen_count"] == 0
            and not row["escalated"]
        )


class CaseViewProjection(Projection):
    """``case_view``: the current state of every case."""

    name = "case_view"
    weight = 35
    tables = (TABLE,)
    handles = CASE_EVENTS | {SUBJECT_ERASED}
    serialized = True  # previous case and suggested owner read the customer's other cases

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Read the touched cases, fold, write, refresh the cross-case suggestions, then mask
        the erased customers' texts.

        Cases opened in this batch are inserted whole; the others get their mutable columns
        updated (the long static texts are neither read back nor rewritten).
        """
        erased = erased_customers(events)
        events = without_erasures(events)
        ids: set[str] = set()
        created: set[str] = set()
        reowned: set[str] = set()
        for event in events:
            key, kind = event.envelope["aggregate_id"], event.envelope["type"]
            ids.add(key)
            if kind in OWNER_EVENTS:
                reowned.add(key)
                if kind == "CaseOpened":
                    created.add(key)
        rows = fetch_rows(cur, TABLE, MUTABLE, "case_id", ids - created)
        fold(rows, events)
        copy_rows(cur, TABLE, COLUMNS, as_tuples([rows[k] for k in created], COLUMNS))
        update_rows(
            cur, TABLE, MUTABLE, "case_id",
            as_tuples([r for k, r in rows.items() if k not in created], MUTABLE),
        )  # fmt: skip
        if reowned:
            execute_keyed(
                cur, _SUGGESTIONS, {"created": sorted(created), "reowned": sorted(reowned)}
            )
        if erased:
            cur.execute(_ERASE, {"customers": erased, **PERSONAL_COLUMNS})
