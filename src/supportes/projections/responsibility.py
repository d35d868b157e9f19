"""``responsibility``: the trail of who held which role on a case, as half-open intervals.

Roles: ``assignee`` (the owner), ``responsible`` (took responsibility) and ``escalation``
(responsible because the case was escalated to them). A case has at most one open ``assignee``
interval and at most one open ``responsible``-or-``escalation`` interval:

* ``CaseAssigned``: a new owner ends the open assignee interval and opens one for the agent
  (assigning the current owner again changes nothing).
* ``ResponsibilityTaken``: ends the open responsible/escalation interval and opens a
  ``responsible`` one for the actor; when the case had no owner the actor also becomes assignee.
* ``CaseEscalated``: ownership and responsibility pass to ``to_agent_id``: a new ``assignee``
  interval (if the owner changes) and a new ``escalation`` interval.
* ``CaseClosed`` ends every open interval; reopening a closed case opens them again for the same
  agents and roles (``opened_by_event`` = ``CaseReopened``). Reopening a resolved case changes
  nothing: its intervals were never ended.

Each interval names who opened and who ended it (``opened_by``/``closed_by``, the events'
actors) and the integration that acted for them, if any (``opened_via_id``/``closed_via_id``
and their kinds: the events' ``via``).

Who was responsible at ``T``: the ``responsible``/``escalation`` interval with
``from_at <= T < to_at`` (``to_at`` null = still open), else the ``assignee`` one
(:func:`responsible_at`).

``note`` is the text of the opening event's personal fields (reason, note, or an escalation's
reason and authority). ``SubjectErased`` (:mod:`._erasure`): last in the batch, every note of
the erased customer's cases (``responsibility_cases.customer_id``, from ``CaseOpened``) becomes
:data:`NOTE_MASK`, which is also the note a fold of the masked events makes (an escalation whose
reason and authority are both masked has one mask for a note, not two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from supportes.projections._common import Row
from supportes.projections._erasure import (
    SUBJECT_ERASED,
    common_mask,
    erased_customers,
    without_erasures,
)
from supportes.projections._pg import (
    as_tuples,
    changed_tuples,
    copy_rows,
    execute_keyed,
    fetch_rows,
    names,
    stage_rows,
    store_rows,
)
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

TABLE = "responsibility"
STATE = "responsibility_cases"
COLUMNS = (
    "case_id", "role", "agent_id", "from_at", "from_version", "to_at", "to_version",
    "opened_by", "opened_by_event", "closed_by", "closed_by_event", "note", "opened_via_id",
    "opened_via_kind", "closed_via_id", "closed_via_kind",
)  # fmt: skip
STATE_COLUMNS = (
    "case_id", "owner_id", "owner_since", "responsible_id", "responsible_role",
    "responsible_since", "closed", "version", "customer_id",
)  # fmt: skip
END_COLUMNS = (
    "case_id", "from_version", "role", "to_at", "to_version", "closed_by", "closed_by_event",
    "closed_via_id", "closed_via_kind",
)  # fmt: skip
_END = """
WITH s AS (DELETE FROM {stage} RETURNING {columns})
UPDATE responsibility AS r
SET to_at = s.to_at, to_version = s.to_version, closed_by = s.closed_by,
    closed_by_event = s.closed_by_event, closed_via_id = s.closed_via_id,
    closed_via_kind = s.closed_via_kind
FROM s
WHERE r.case_id = s.case_id AND r.from_version = s.from_version AND r.role = s.role
"""

NOTE_MASK = common_mask({
    "CaseAssigned": ("reason",), "ResponsibilityTaken": ("note",),
    "CaseEscalated": ("reason", "authority"), "CaseReopened": ("reason",),
})  # fmt: skip
"""What a note reads as once its customer is erased (the one mask of the fields notes quote)."""
_ERASE = """
UPDATE responsibility AS r SET note = %(mask)s
FROM responsibility_cases AS c
WHERE c.customer_id = ANY(%(customers)s) AND r.case_id = c.case_id AND r.note <> %(mask)s
"""

_NO_VIA = (None, None)


def _via(e: LoggedEvent) -> tuple[str | None, str | None]:
    """``(via_id, via_kind)`` of an event (``(None, None)`` without ``via``)."""
    via = e.envelope.get("via")
    return _NO_VIA if via is None else (via["id"], via["kind"])


@dataclass
class _Batch:
    """Intervals produced by one batch."""

    opened: dict[tuple[str, int, str], Row] = field(default_factory=dict)  # still open
    finished: list[Row] = field(default_factory=list)  # opened and ended in this batch
    ended: list[tuple[Any, ...]] = field(default_factory=list)  # opened in earlier batches

    def open(self, s: Row, role: str, agent: str, e: LoggedEvent, note: str | None) -> int:
        """Open an interval; returns its ``from_version``."""
        via_id, via_kind = _via(e)
        self.opened[(s["case_id"], e.version, role)] = {
            "case_id": s["case_id"], "role": role, "agent_id": agent, "from_at": e.occurred_at,
            "from_version": e.version, "to_at": None, "to_version": None,
            "opened_by": e.actor_id, "opened_by_event": e.type, "closed_by": None,
            "closed_by_event": None, "note": note, "opened_via_id": via_id,
            "opened_via_kind": via_kind, "closed_via_id": None, "closed_via_kind": None,
        }  # fmt: skip
        return e.version

    def end(self, s: Row, role: str, since: int, e: LoggedEvent) -> None:
        """End the open interval of ``role`` opened at version ``since``."""
        row = self.opened.pop((s["case_id"], since, role), None)
        via_id, via_kind = _via(e)
        if row is None:
            self.ended.append((s["case_id"], since, role, e.occurred_at, e.version, e.actor_id,
                               e.type, via_id, via_kind))  # fmt: skip
            return
        row.update(to_at=e.occurred_at, to_version=e.version, closed_by=e.actor_id,
                   closed_by_event=e.type, closed_via_id=via_id,
                   closed_via_kind=via_kind)  # fmt: skip
        self.finished.append(row)


def _join(*parts: Any) -> str | None:
    text = "; ".join(str(p) for p in parts if p not in (None, ""))
    return text or None


def _escalation_note(reason: str | None, authority: str | None) -> str | None:
    """``reason; authority: <authority>``, or the mask alone when all of it is masked."""
    if reason == NOTE_MASK and authority in (None, NOTE_MASK):
        return NOTE_MASK
    return _join(reason, authority and f"authority: {authority}")


def _new_owner(b: _Batch, s: Row, agent: str, e: LoggedEvent, note: str | None) -> None:
    if s["owner_id"] == agent:
        return
    if s["owner_id"] is not None and not s["closed"]:
        b.end(s, "assignee", s["owner_since"], e)
    s["owner_id"] = agent
    s["owner_since"] = None if s["closed"] else b.open(s, "assignee", agent, e, note)


def _new_responsible(
    b: _Batch, s: Row, agent: str, e: LoggedEvent, note: str | None, *, role: str
) -> None:
    if s["responsible_id"] == agent and s["responsible_role"] == role:
        return
    if s["responsible_id"] is not None and not s["closed"]:
        b.end(s, s["responsible_role"], s["responsible_since"], e)
    s["responsible_id"], s["responsible_role"] = agent, role
    s["responsible_since"] = None if s["closed"] else b.open(s, role, agent, e, note)


def fold(b: _Batch, s: Row, e: LoggedEvent) -> None:
    """Apply one event to the case state ``s`` and the batch's intervals ``b``."""
    env = e.envelope
    p, kind = env["payload"], env["type"]
    if kind == "CaseOpened":
        s["customer_id"] = p["customer_id"]
    elif kind == "CaseAssigned":
        _new_owner(b, s, p["agent_id"], e, p.get("reason"))
    elif kind == "ResponsibilityTaken":
        _new_responsible(b, s, p["agent_id"], e, p.get("note"), role="responsible")
        _new_owner(b, s, p.get("owner_id") or s["owner_id"] or p["agent_id"], e, p.get("note"))
    elif kind == "CaseEscalated":
        note = _escalation_note(p.get("reason"), p.get("authority"))
        _new_owner(b, s, p["to_agent_id"], e, note)
        _new_responsible(b, s, p["to_agent_id"], e, note, role="escalation")
    elif kind == "CaseClosed" and not s["closed"]:
        if s["owner_id"] is not None:
            b.end(s, "assignee", s["owner_since"], e)
        if s["responsible_id"] is not None:
            b.end(s, s["responsible_role"], s["responsible_since"], e)
        s["closed"] = True
        s["owner_since"] = s["responsible_since"] = None
    elif kind == "CaseReopened" and s["closed"]:
        s["closed"] = False
        if s["owner_id"] is not None:
            s["owner_since"] = b.open(s, "assignee", s["owner_id"], e, p.get("reason"))
        if s["responsible_id"] is not None:
            s["responsible_since"] = b.open(
                s, s["responsible_role"], s["responsible_id"], e, p.get("reason")
            )
    s["version"] = env["version"]


class ResponsibilityProjection(Projection):
    """``responsibility``: intervals per case, agent and role."""

    name = "responsibility"
    weight = 9
    tables = (TABLE, STATE)
    handles = frozenset({
        "CaseOpened", "CaseAssigned", "ResponsibilityTaken", "CaseEscalated", "CaseClosed",
        "CaseReopened", SUBJECT_ERASED,
    })  # fmt: skip

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """End the intervals of earlier batches, insert this batch's, store the case state,
        then mask the erased customers' notes."""
        erased = erased_customers(events)
        events = without_erasures(events)
        ids = {e.envelope["aggregate_id"] for e in events}
        states = fetch_rows(cur, STATE, STATE_COLUMNS, "case_id", ids)
        stored = {key: tuple(state.values()) for key, state in states.items()}
        batch = _Batch()
        for event in events:
            case = event.envelope["aggregate_id"]
            state = states.get(case)
            if state is None:
                state = states[case] = dict.fromkeys(STATE_COLUMNS)
                state.update(case_id=case, closed=False)
            fold(batch, state, event)
        if batch.ended:
            stage = stage_rows(cur, TABLE, END_COLUMNS, batch.ended)
            execute_keyed(cur, _END.format(stage=stage, columns=names(END_COLUMNS)))
        intervals = [*batch.finished, *batch.opened.values()]
        copy_rows(cur, TABLE, COLUMNS, as_tuples(intervals, COLUMNS))
        store_rows(
            cur, STATE, STATE_COLUMNS, "case_id", changed_tuples(states, STATE_COLUMNS, stored),
            stored=stored,
        )  # fmt: skip
        if erased:
            execute_keyed(cur, _ERASE, {"customers": erased, "mask": NOTE_MASK})


def responsible_at(
    cur: psycopg2.extensions.cursor, case_id: str, at: datetime, *, schema: str = "proj"
) -> tuple[str, str] | None:
    """``(agent_id, role)`` responsible for ``case_id`` at ``at``, or ``None``.

    The responsible or escalation interval covering ``at``, else the assignee interval.
    """
    cur.execute(
        sql.SQL(
            "SELECT agent_id, role FROM {} WHERE case_id = %s AND from_at <= %s"
            " AND (to_at IS NULL OR to_at > %s)"
            " ORDER BY role = 'assignee', from_at DESC, from_version DESC LIMIT 1"
        ).format(sql.Identifier(schema, TABLE)),
        (case_id, at, at),
    )
    found = cur.fetchone()
    return None if found is None else (str(found[0]), str(found[1]))
