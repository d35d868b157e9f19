""" "Fix everything twice" in the follow-up queue (issue 21): the two items that ask for the second
fix, computed by :class:`~supportes.projections.follow_ups.FollowUpsProjection`.

* ``root_cause_needed``: a resolved (or closed) case whose last fix is a ``workaround`` or gave
  a known answer, with no root cause linked and none waived (``RootCauseWaived``); due
  ``resolved_at + sla_root_cause``; owner = the case owner. It leaves the queue when a root
  cause is linked, a lead waives it, or the case is reopened (a new resolution asks again).
* ``known_answer_recurring``: one per known answer (not per case), for the leads
  (``owner_id`` :data:`LEADS`): the known answer was given ``known_answer_threshold`` times
  within :data:`WINDOW` (between the events' times) to cases that have no root cause linked.
  ``since_at`` is the giving that reached the threshold in the earliest such window, due
  ``sla_root_cause`` later. It leaves the queue when root causes linked to those cases bring
  every 30-day window below the threshold (a waiver does not: the known answer keeps coming).

Every time comes from events, so a rebuild gives the same items. The recurring items read the
givings of every case (other partitions' too): the projection takes the advisory lock of
:data:`LOCK` before reading them, so projector processes sharing the partitions decide one at a
time (see :attr:`~supportes.projections.base.Projection.serialized`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import psycopg2.extensions

from supportes.projections._common import Row
from supportes.projections._pg import copy_rows
from supportes.projections.base import LoggedEvent, ProjectionContext, serialize

GIVINGS = "follow_up_known_answers"
"""Internal table: every known answer given (case, version, known answer, when)."""
WINDOW = timedelta(days=30)
"""How close together the givings of a recurring known answer are (between event times)."""
LEADS = "role:lead"
"""Owner of the ``known_answer_recurring`` items: the leads (not one agent)."""
LOCK = "follow_ups.known_answers"
"""Advisory-lock name serializing the recurring-known-answer decisions across processes."""
WORKAROUND = "workaround"
ROOT_CAUSE_EVENTS = frozenset({"RootCauseLinked", "RootCauseLinkUndone"})


def known_answer_subject(known_answer_id: str) -> str:
    """The ``subject_id`` (a UUID) of a known answer's queue item."""
    return str(uuid5(NAMESPACE_URL, f"supportes:known-answer:{known_answer_id}"))


# --- per-case state (columns of follow_up_cases) ------------------------------------------


def fix_applied(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    """The last fix decides whether the case needs a root cause."""
    s["fix_kind"] = p["kind"]
    s["fix_known_answer_id"] = p.get("known_answer_id")


def root_cause_linked(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["root_cause_id"] = str(p["root_cause_id"])


def root_cause_link_undone(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    linked = p.get("linked_root_cause_id")
    s["root_cause_id"] = None if linked is None else str(linked)


def root_cause_waived(s: Row, e: LoggedEvent, p: Mapping[str, Any]) -> None:
    s["root_cause_waived"] = True


FIX_TWICE_FOLDS = {
    "FixApplied": fix_applied,
    "RootCauseLinked": root_cause_linked,
    "RootCauseLinkUndone": root_cause_link_undone,
    "RootCauseWaived": root_cause_waived,
}
"""Case event type -> fold step of the fix-twice facts."""
FIX_TWICE_STATE = {
    "fix_kind": None, "fix_known_answer_id": None, "root_cause_id": None,
    "root_cause_waived": False,
}  # fmt: skip
"""The fix-twice facts of a newly opened case."""


def needs_root_cause(s: Mapping[str, Any]) -> bool:
    """Resolved or closed, last fix a workaround or a known answer, no root cause, not waived."""
    return (
        s["status"] in ("resolved", "closed")
        and (s["fix_kind"] == WORKAROUND or s["fix_known_answer_id"] is not None)
        and s["root_cause_id"] is None
        and not s["root_cause_waived"]
    )


def root_cause_item(
    s: Mapping[str, Any], ctx: ProjectionContext
) -> tuple[str, Any, datetime, datetime, str] | None:
    """``(kind, owner, due, since, detail)`` of the case's ``root_cause_needed`` item, if any."""
    if not needs_root_cause(s):
        return None
    how = "a workaround" if s["fix_known_answer_id"] is None else "a known answer"
    return (
        "root_cause_needed", s["owner_id"], s["resolved_at"] + ctx.sla_root_cause,
        s["resolved_at"], f"fix it twice: resolved by {how}; link the root cause "
        "(or a lead waives it)",
    )  # fmt: skip


# --- recurring known answers --------------------------------------------------------------


def givings(events: Iterable[LoggedEvent]) -> list[tuple[str, int, str, datetime]]:
    """``(case_id, version, known_answer_id, given_at)`` of the known answers given."""
    return [
        (e.envelope["aggregate_id"], e.version, str(e.payload["known_answer_id"]), e.occurred_at)
        for e in events
        if e.type == "FixApplied" and e.payload.get("known_answer_id") is not None
    ]


def threshold_reached(times: Sequence[datetime], threshold: int) -> datetime | None:
    """The earliest time at which ``threshold`` of ``times`` (sorted) lie within
    :data:`WINDOW`, or ``None``."""
    for last in range(threshold - 1, len(times)):
        if times[last] - times[last - threshold + 1] <= WINDOW:
            return times[last]
    return None


def recurring_item(
    known_answer_id: str, times: Sequence[datetime], ctx: ProjectionContext
) -> tuple[Any, ...] | None:
    """The queue row of a known answer given at ``times`` (sorted) to cases without a root
    cause, or ``None`` below the threshold."""
    since = threshold_reached(times, ctx.known_answer_threshold)
    if since is None:
        return None
    detail = (
        f"known answer {known_answer_id} given {len(times)} times to cases without a root cause "
        f"({ctx.known_answer_threshold} within 30 days): find and link the root cause"
    )
    return (
        known_answer_subject(known_answer_id), "known_answer_recurring", known_answer_id, None,
        None, None, LEADS, since + ctx.sla_root_cause, since, None, None, None, detail,
        known_answer_id,
    )  # fmt: skip


def refresh_known_answers(
    cur: psycopg2.extensions.cursor,
    events: Sequence[LoggedEvent],
    relinked: Iterable[str],
    ctx: ProjectionContext,
    *,
    columns: Sequence[str],
    table: str,
) -> None:
    """Record the batch's givings; recompute the recurring items of the known answers given in
    the batch or to the ``relinked`` cases (whose root cause came or went). The case states of
    the batch must be written before."""
    new = givings(events)
    if new:
        cur.execute(
            f"INSERT INTO {GIVINGS} (case_id, version, known_answer_id, given_at)"
            " SELECT * FROM unnest(%s::uuid[], %s::integer[], %s::text[], %s::timestamptz[])",
            tuple(list(column) for column in zip(*new, strict=True)),
        )
    touched = {g[2] for g in new}
    relinked = sorted(relinked)
    if relinked:
        cur.execute(
            f"SELECT DISTINCT known_answer_id FROM {GIVINGS} WHERE case_id = ANY(%s::uuid[])",
            (relinked,),
        )
        touched.update(row[0] for row in cur.fetchall())
    if not touched:
        return
    answers = sorted(touched)
    serialize(cur, LOCK)
    cur.execute(
        f"SELECT g.known_answer_id, g.given_at FROM {GIVINGS} AS g"
        " JOIN follow_up_cases AS c ON c.case_id = g.case_id"
        " WHERE g.known_answer_id = ANY(%s::text[]) AND c.root_cause_id IS NULL"
        " ORDER BY g.known_answer_id, g.given_at, g.case_id, g.version",
        (answers,),
    )
    times: dict[str, list[datetime]] = {}
    for answer, given_at in cur.fetchall():
        times.setdefault(answer, []).append(given_at)
    cur.execute(
        f"DELETE FROM {table} WHERE subject_id = ANY(%s::uuid[])"
        " AND kind = 'known_answer_recurring'",
        ([known_answer_subject(a) for a in answers],),
    )
    rows = [recurring_item(a, times.get(a, []), ctx) for a in answers]
    copy_rows(cur, table, columns, [r for r in rows if r is not None])
