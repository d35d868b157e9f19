"""``follow_up_queue``: the open work items, each with an owner and a due time.

Case items are recomputed from a per-case state (``follow_up_cases``) after each batch; the
items of the touched cases are replaced. ``urgent`` cases use the urgent service levels.

* ``acknowledge``: open (new/acknowledged/assigned) and not acknowledged; due
  ``opened_at + sla_acknowledge``.
* ``update_customer``: open and acknowledged; due ``sla_update_customer`` after the last
  customer update (acknowledgement, ``CustomerUpdated``, completed callback, outbound contact),
  the opening or the last reopening, whichever is latest. (Before the acknowledgement, the
  acknowledge item is the update that is due.)
* ``callback``: a scheduled callback not completed, until the case closes; due at its
  ``due_at``; owner = the callback's agent, else the case owner.
* ``follow_up``: resolved with the follow-up neither recorded nor waived; due at the scheduled
  ``due_at``, else ``resolved_at + sla_follow_up_after_resolution``.
* ``satisfaction``: closed and not rated since the last reopening; due
  ``closed_at + sla_follow_up_after_resolution`` (the survey gets the same grace as a follow-up).
* ``preventive_action``: planned and not completed; due at its ``due_at``, else
  :data:`PREVENTIVE_ACTION_DEFAULT_DUE` after planning; owner = the action's owner.
* ``root_cause_needed`` and ``known_answer_recurring`` ("fix everything twice"): see
  :mod:`supportes.projections.fix_twice`.

Other case items are owned by the case owner (null while unowned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg2.extensions

from supportes.aggregates.reference import case_reference
from supportes.projections._common import (
    OPEN_STATUSES,
    Fold,
    Row,
    clip,
    parse_time,
)
from supportes.projections._pg import as_tuples, copy_rows, fetch_rows, store_rows
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext
from supportes.projections.fix_twice import (
    FIX_TWICE_FOLDS,
    FIX_TWICE_STATE,
    GIVINGS,
    ROOT_CAUSE_EVENTS,
    refresh_known_answers,
    root_cause_item,
)

TABLE = "follow_up_queue"
STATE = "follow_up_cases"
COLUMNS = (
    "subject_id", "kind", "item", "case_id", "root_cause_id", "action_id", "owner_id",
    "due_at", "since_at", "priority", "reference", "customer_id", "detail", "known_answer_id",
)  # fmt: skip
STATE_COLUMNS = (
    "case_id", "reference", "customer_id", "priority", "status", "owner_id", "opened_at",
    "acknowledged_at", "update_base_at", "callback_due_at", "callback_agent_id",
    "callback_since_at", "resolved_at", "follow_up_pending", "follow_up_due_at", "closed_at",
    "rated", "fix_kind", "fix_known_answer_id", "root_cause_id", "root_cause_waived",
)  # fmt: skip
PREVENTIVE_ACTION_DEFAULT_DUE = timedelta(days=14)
"""Due time of a preventive action planned without ``due_at``, counted from planning."""
ACTION_EVENTS = frozenset({"PreventiveActionPlanned", "PreventiveActionCompleted"})


def _opened(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s.update(
        reference=p.get("reference") or case_reference(e.aggregate_id),
        customer_id=p["customer_id"],
        priority=p.get("priority") or "normal", status="new", owner_id=None,
        opened_at=e.occurred_at, acknowledged_at=None, update_base_at=e.occurred_at,
        callback_due_at=None, callback_agent_id=None, callback_since_at=None, resolved_at=None,
        follow_up_pending=False, follow_up_due_at=None, closed_at=None, rated=False,
        **FIX_TWICE_STATE,
    )  # fmt: skip


def _updated(s: Row, e: LoggedEvent) -> None:
    s["update_base_at"] = max(s["update_base_at"], e.occurred_at)


def _owner(s: Row, agent: str) -> None:
    s["owner_id"] = agent
    if s["status"] in ("new", "acknowledged"):
        s["status"] = "assigned"


def _contact(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    if p["direction"] == "outbound":
        _updated(s, e)


def _reopened(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    if s["owner_id"] is not None:
        s["status"] = "assigned"
    else:
        s["status"] = "new" if s["acknowledged_at"] is None else "acknowledged"
    s.update(resolved_at=None, closed_at=None, follow_up_pending=False, follow_up_due_at=None,
             rated=False)  # fmt: skip
    _updated(s, e)


def _acknowledged(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["acknowledged_at"] = e.occurred_at
    s["reference"] = p.get("reference") or s["reference"]
    if s["status"] == "new":
        s["status"] = "acknowledged"
    _updated(s, e)


def _responsibility(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    _owner(s, p.get("owner_id") or s["owner_id"] or p["agent_id"])


def _callback_scheduled(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["callback_due_at"] = parse_time(p["due_at"])
    s["callback_agent_id"] = p.get("agent_id")
    s["callback_since_at"] = e.occurred_at


def _callback_completed(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["callback_due_at"] = s["callback_agent_id"] = s["callback_since_at"] = None
    _updated(s, e)


def _resolved(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s.update(status="resolved", resolved_at=e.occurred_at, follow_up_pending=True)


def _follow_up_settled(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["follow_up_pending"] = False
    s["follow_up_due_at"] = None


def _closed(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s.update(status="closed", closed_at=e.occurred_at, callback_due_at=None,
             callback_agent_id=None, callback_since_at=None)  # fmt: skip


FOLDS: dict[str, Fold] = {
    "CaseOpened": _opened,
    "ContactRecorded": _contact,
    "CaseReopened": _reopened,
    "CaseAcknowledged": _acknowledged,
    "CaseAssigned": lambda s, e, p: _owner(s, p["agent_id"]),
    "ResponsibilityTaken": _responsibility,
    "CaseEscalated": lambda s, e, p: _owner(s, p["to_agent_id"]),
    "CustomerUpdated": lambda s, e, p: _updated(s, e),
    "CallbackScheduled": _callback_scheduled,
    "CallbackCompleted": _callback_completed,
    "CaseResolved": _resolved,
    "FollowUpScheduled": lambda s, e, p: s.update(follow_up_due_at=parse_time(p["due_at"])),
    "FollowUpRecorded": _follow_up_settled,  # not_resolved: CaseReopened follows
    "FollowUpWaived": _follow_up_settled,
    "SatisfactionRated": lambda s, e, p: s.update(rated=True),
    "CaseClosed": _closed,
    **FIX_TWICE_FOLDS,
}
"""Case event type -> fold step on the per-case state."""
CASE_HANDLES = frozenset(FOLDS)


def case_items(s: Row, ctx: ProjectionContext) -> list[tuple[Any, ...]]:
    """The queue rows of one case state (pure)."""
    urgent = s["priority"] == "urgent"
    status = s["status"]
    items: list[tuple[str, Any, datetime, datetime, str]] = []  # kind, owner, due, since, detail
    if status in OPEN_STATUSES:
        if s["acknowledged_at"] is None:
            sla = ctx.sla_acknowledge_urgent if urgent else ctx.sla_acknowledge
            items.append((
                "acknowledge", s["owner_id"], s["opened_at"] + sla, s["opened_at"],
                "acknowledge the contact and give the reference",
            ))  # fmt: skip
        else:
            sla = ctx.sla_update_customer_urgent if urgent else ctx.sla_update_customer
            base = s["update_base_at"]
            items.append(("update_customer", s["owner_id"], base + sla, base,
                          "update the customer"))  # fmt: skip
    if s["callback_due_at"] is not None and status != "closed":
        items.append((
            "callback", s["callback_agent_id"] or s["owner_id"], s["callback_due_at"],
            s["callback_since_at"] or s["callback_due_at"], "call the customer back",
        ))  # fmt: skip
    if status == "resolved" and s["follow_up_pending"]:
        due = s["follow_up_due_at"] or s["resolved_at"] + ctx.sla_follow_up_after_resolution
        items.append(("follow_up", s["owner_id"], due, s["resolved_at"],
                      "follow up: is the problem solved?"))  # fmt: skip
    if status == "closed" and not s["rated"]:
        items.append((
            "satisfaction", s["owner_id"], s["closed_at"] + ctx.sla_follow_up_after_resolution,
            s["closed_at"], "ask for a satisfaction rating",
        ))  # fmt: skip
    root_cause = root_cause_item(s, ctx)
    if root_cause is not None:
        items.append(root_cause)
    case = s["case_id"]
    tail = (s["priority"], s["reference"], s["customer_id"])
    return [
        (case, kind, "", case, None, None, owner, due, since, *tail, detail,
         s["fix_known_answer_id"] if kind == "root_cause_needed" else None)
        for kind, owner, due, since, detail in items
    ]  # fmt: skip


def action_item(e: LoggedEvent) -> tuple[Any, ...]:
    """The queue row of a ``PreventiveActionPlanned`` event."""
    env = e.envelope
    p = env["payload"]
    due = parse_time(p.get("due_at")) or e.occurred_at + PREVENTIVE_ACTION_DEFAULT_DUE
    root_cause = env["aggregate_id"]
    return (
        root_cause, "preventive_action", p["action_id"], None, root_cause, p["action_id"],
        p["owner_id"], due, e.occurred_at, None, None, None,
        clip(f"{p['kind']}: {p['description']}", 200), None,
    )  # fmt: skip


class FollowUpsProjection(Projection):
    """``follow_up_queue``: what is due, for whom, by when."""

    name = "follow_ups"
    weight = 10
    tables = (TABLE, STATE, GIVINGS)
    handles = CASE_HANDLES | ACTION_EVENTS

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Fold case states and replace their items; add/remove preventive-action items."""
        case_events = [e for e in events if e.envelope["type"] in CASE_HANDLES]
        if case_events:
            self._cases(cur, case_events, context)
            relinked = {
                e.envelope["aggregate_id"] for e in case_events if e.type in ROOT_CAUSE_EVENTS
            }
            refresh_known_answers(cur, case_events, relinked, context, columns=COLUMNS, table=TABLE)
        action_events = [e for e in events if e.envelope["type"] in ACTION_EVENTS]
        if action_events:
            self._actions(cur, action_events)

    @staticmethod
    def _cases(
        cur: psycopg2.extensions.cursor, events: list[LoggedEvent], ctx: ProjectionContext
    ) -> None:
        """Fold the case states; write the states and replace the items that changed."""
        states = fetch_rows(
            cur, STATE, STATE_COLUMNS, "case_id", {e.envelope["aggregate_id"] for e in events}
        )
        before = {key: tuple(state.values()) for key, state in states.items()}
        for e in events:
            env = e.envelope
            key = env["aggregate_id"]
            state = states.get(key)
            if state is None:
                state = states[key] = {"case_id": key}
            FOLDS[env["type"]](state, e, env["payload"])
        changed = [
            s for key, s in states.items() if tuple(s[c] for c in STATE_COLUMNS) != before.get(key)
        ]
        store_rows(
            cur, STATE, STATE_COLUMNS, "case_id", as_tuples(changed, STATE_COLUMNS), stored=before
        )
        items: list[tuple[Any, ...]] = []
        replaced: list[str] = []
        for s in changed:
            old = before.get(s["case_id"])
            now = case_items(s, ctx)
            if old is None or case_items(dict(zip(STATE_COLUMNS, old)), ctx) != now:  # noqa: B905
                replaced.append(s["case_id"])
                items.extend(now)
        if replaced:
            cur.execute(
                "DELETE FROM follow_up_queue WHERE subject_id = ANY(%s::uuid[]) AND item = ''",
                (sorted(replaced),),
            )
        copy_rows(cur, TABLE, COLUMNS, items)

    @staticmethod
    def _actions(cur: psycopg2.extensions.cursor, events: list[LoggedEvent]) -> None:
        planned: dict[tuple[str, str], tuple[Any, ...]] = {}
        completed: list[tuple[str, str]] = []
        for e in events:
            env = e.envelope
            key = (env["aggregate_id"], str(env["payload"]["action_id"]))
            if env["type"] == "PreventiveActionPlanned":
                planned[key] = action_item(e)
            elif planned.pop(key, None) is None:
                completed.append(key)
        if completed:
            cur.execute(
                "DELETE FROM follow_up_queue AS q USING unnest(%s::uuid[], %s::text[]) AS d(s, a)"
                " WHERE q.subject_id = d.s AND q.kind = 'preventive_action' AND q.item = d.a",
                ([s for s, _ in completed], [a for _, a in completed]),
            )
        copy_rows(cur, TABLE, COLUMNS, list(planned.values()))
