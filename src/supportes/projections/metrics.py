"""``service_metrics_daily`` and ``agent_metrics_daily``: daily service figures per UTC day.

Event counts (opened, acknowledged, resolved, reopenings, escalations, closed, ratings; per agent
resolutions and ratings) are additive: each batch adds its per-day deltas. Every handled event
adds to the row of its own day, so the set of rows does not depend on batching.

Figures that later events can change are recomputed from the internal per-case table
``metrics_cases`` for the days (and day x agent pairs) whose cases changed in the batch:

* first-contact resolutions: cases first resolved that day that (still) have exactly one inbound
  contact, no reopening and no escalation; a later reopening or escalation removes the case
  from its resolution day. The rate divides by ``first_resolved``.
* CSAT: the latest rating of each case counts, on the day it was given, credited to the owner
  at that moment (``SatisfactionRated.owner_id``); later owner changes do not move it.
* medians: opening to acknowledgement (day of acknowledgement) and opening to first resolution
  (day of first resolution), in seconds, with ``percentile_cont(0.5)``.
* "fix everything twice" (issue 21): a case needs a root cause from its first resolution whose
  last fix was a workaround or a known answer (``root_cause_needed``, on that day, credited to
  the owner who resolved it); it is ``fixed_twice`` when a root cause was linked or waived no
  later than that resolution plus ``sla_root_cause`` (a link before the resolution counts; a
  link undone by its root cause does not). ``fix_twice_rate`` = fixed_twice / root_cause_needed.
  ``known_answers_given`` is additive (per agent: the actor of the ``FixApplied``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg2.extensions

from supportes.projections._common import Row, utc_day
from supportes.projections._pg import (
    changed_tuples,
    execute_keyed,
    fetch_rows,
    store_rows,
    upsert_rows,
)
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

SERVICE = "service_metrics_daily"
AGENTS = "agent_metrics_daily"
CASES = "metrics_cases"
CASE_COLUMNS = (
    "case_id", "opened_at", "acknowledged_at", "ack_day", "first_resolved_at",
    "first_resolved_day", "inbound_contacts", "reopen_count", "escalations", "fcr",
    "csat_score", "csat_owner_id", "csat_day", "fix_needs_root_cause", "root_cause_linked",
    "root_cause_waived", "root_cause_needed_at", "root_cause_needed_day",
    "root_cause_needed_owner_id", "root_cause_settled_at", "fixed_twice",
)  # fmt: skip
COUNTS = (
    "opened", "acknowledged", "resolved", "reopenings", "escalations", "closed", "ratings",
    "known_answers_given",
)  # fmt: skip
COUNTED: dict[str, int] = {
    "CaseOpened": 0, "CaseAcknowledged": 1, "CaseResolved": 2, "CaseReopened": 3,
    "CaseEscalated": 4, "CaseClosed": 5, "SatisfactionRated": 6, "FixApplied": 7,
}  # fmt: skip
"""Event type -> index in :data:`COUNTS` (``FixApplied`` only with a ``known_answer_id``)."""
_RESOLVED, _RATED, _KNOWN = (
    COUNTED["CaseResolved"], COUNTED["SatisfactionRated"], COUNTED["FixApplied"],
)  # fmt: skip
_TRACKED = (
    "ack_day", "first_resolved_day", "fcr", "csat_score", "csat_owner_id", "csat_day",
    "root_cause_needed_day", "root_cause_needed_owner_id", "fixed_twice",
)  # fmt: skip
ROOT_CAUSE_EVENTS = ("RootCauseLinked", "RootCauseLinkUndone", "RootCauseWaived")

SERVICE_COUNT_COLUMNS = (
    "day", *COUNTS, "first_resolved", "first_contact_resolutions", "csat_count",
)  # fmt: skip
AGENT_COUNT_COLUMNS = (
    "day", "agent_id", "cases_resolved", "ratings", "csat_count", "known_answers_given",
)  # fmt: skip
_AGENT_SLOTS = {_RESOLVED: 2, _RATED: 3, _KNOWN: 5}
"""Counted event index -> position of its count in an agent row."""
_SERVICE_MERGE = ", ".join(f"{c} = t.{c} + excluded.{c}" for c in COUNTS)
_AGENT_MERGE = ", ".join(
    f"{c} = t.{c} + excluded.{c}" for c in ("cases_resolved", "ratings", "known_answers_given")
)
_SERVICE_RECOMPUTE = """
WITH days AS (
    SELECT DISTINCT unnest(%(days)s::date[]) AS day
), ack AS (
    SELECT ack_day AS day, percentile_cont(0.5) WITHIN GROUP
           (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS median
    FROM metrics_cases WHERE ack_day = ANY(%(days)s::date[]) GROUP BY ack_day
), res AS (
    SELECT first_resolved_day AS day, count(*)::integer AS n,
           (count(*) FILTER (WHERE fcr))::integer AS fcr,
           percentile_cont(0.5) WITHIN GROUP
           (ORDER BY extract(epoch FROM first_resolved_at - opened_at)) AS median
    FROM metrics_cases WHERE first_resolved_day = ANY(%(days)s::date[])
    GROUP BY first_resolved_day
), csat AS (
    SELECT csat_day AS day, count(*)::integer AS n, round(avg(csat_score), 2) AS average
    FROM metrics_cases WHERE csat_day = ANY(%(days)s::date[]) GROUP BY csat_day
), twice AS (
    SELECT root_cause_needed_day AS day, count(*)::integer AS n,
           (count(*) FILTER (WHERE fixed_twice))::integer AS done
    FROM metrics_cases WHERE root_cause_needed_day = ANY(%(days)s::date[])
    GROUP BY root_cause_needed_day
), computed AS (
    SELECT days.day, coalesce(res.n, 0) AS first_resolved, coalesce(res.fcr, 0) AS fcr,
           CASE WHEN res.n > 0 THEN round(res.fcr::numeric / res.n, 4) END AS rate,
           coalesce(csat.n, 0) AS csat_count, csat.average AS csat_average,
           ack.median AS ack_median, res.median AS resolve_median,
           coalesce(twice.n, 0) AS needed, coalesce(twice.done, 0) AS done,
           CASE WHEN twice.n > 0 THEN round(twice.done::numeric / twice.n, 4) END AS twice_rate
    FROM days LEFT JOIN ack USING (day) LEFT JOIN res USING (day) LEFT JOIN csat USING (day)
         LEFT JOIN twice USING (day)
)
UPDATE service_metrics_daily AS t
SET first_resolved = c.first_resolved, first_contact_resolutions = c.fcr,
    first_contact_resolution_rate = c.rate, csat_count = c.csat_count,
    csat_average = c.csat_average, median_seconds_to_acknowledge = c.ack_median,
    median_seconds_to_resolve = c.resolve_median, root_cause_needed = c.needed,
    fixed_twice = c.done, fix_twice_rate = c.twice_rate
FROM computed c
WHERE t.day = c.day
"""
_AGENT_RECOMPUTE = """
WITH pairs AS (
    SELECT DISTINCT * FROM unnest(%(days)s::date[], %(agents)s::text[]) AS p (day, agent_id)
), csat AS (
    SELECT m.csat_day AS day, m.csat_owner_id AS agent_id, count(*)::integer AS n,
           round(avg(m.csat_score), 2) AS average
    FROM metrics_cases m JOIN pairs p ON m.csat_day = p.day AND m.csat_owner_id = p.agent_id
    GROUP BY m.csat_day, m.csat_owner_id
), twice AS (
    SELECT m.root_cause_needed_day AS day, m.root_cause_needed_owner_id AS agent_id,
           count(*)::integer AS n, (count(*) FILTER (WHERE m.fixed_twice))::integer AS done
    FROM metrics_cases m JOIN pairs p
         ON m.root_cause_needed_day = p.day AND m.root_cause_needed_owner_id = p.agent_id
    GROUP BY m.root_cause_needed_day, m.root_cause_needed_owner_id
)
UPDATE agent_metrics_daily AS t
SET csat_count = coalesce(csat.n, 0), csat_average = csat.average,
    root_cause_needed = coalesce(twice.n, 0), fixed_twice = coalesce(twice.done, 0),
    fix_twice_rate = CASE WHEN twice.n > 0 THEN round(twice.done::numeric / twice.n, 4) END
FROM pairs p LEFT JOIN csat USING (day, agent_id) LEFT JOIN twice USING (day, agent_id)
WHERE t.day = p.day AND t.agent_id = p.agent_id
"""


def _opened(e: LoggedEvent) -> Row:
    return {
        "case_id": e.envelope["aggregate_id"], "opened_at": e.occurred_at,
        "acknowledged_at": None, "ack_day": None, "first_resolved_at": None,
        "first_resolved_day": None, "inbound_contacts": 1, "reopen_count": 0, "escalations": 0,
        "fcr": False, "csat_score": None, "csat_owner_id": None, "csat_day": None,
        "fix_needs_root_cause": False, "root_cause_linked": False, "root_cause_waived": False,
        "root_cause_needed_at": None, "root_cause_needed_day": None,
        "root_cause_needed_owner_id": None, "root_cause_settled_at": None, "fixed_twice": False,
    }  # fmt: skip


def fold_case(row: Row, e: LoggedEvent, kind: str, p: Mapping[str, Any]) -> None:
    """Apply one event (not ``CaseOpened``) to a per-case row."""
    if kind == "ContactRecorded":
        if p["direction"] == "inbound":
            row["inbound_contacts"] += 1
    elif kind == "CaseAcknowledged":
        row["acknowledged_at"] = e.occurred_at
        row["ack_day"] = utc_day(e.occurred_at)
    elif kind == "CaseResolved":
        if row["first_resolved_at"] is None:
            row["first_resolved_at"] = e.occurred_at
            row["first_resolved_day"] = utc_day(e.occurred_at)
        if row["fix_needs_root_cause"] and row["root_cause_needed_at"] is None:
            row["root_cause_needed_at"] = e.occurred_at
            row["root_cause_needed_day"] = utc_day(e.occurred_at)
            row["root_cause_needed_owner_id"] = p.get("owner_id")
    elif kind == "FixApplied":
        row["fix_needs_root_cause"] = (
            p["kind"] == "workaround" or p.get("known_answer_id") is not None
        )
    elif kind in ROOT_CAUSE_EVENTS:
        _fold_root_cause(row, e, kind, p)
    elif kind == "CaseReopened":
        row["reopen_count"] += 1
    elif kind == "CaseEscalated":
        row["escalations"] += 1
    elif kind == "SatisfactionRated":
        row["csat_score"] = p["score"]
        row["csat_owner_id"] = p.get("owner_id")
        row["csat_day"] = utc_day(e.occurred_at)
    row["fcr"] = (
        row["first_resolved_at"] is not None
        and row["inbound_contacts"] == 1
        and row["reopen_count"] == 0
        and row["escalations"] == 0
    )


def _fold_root_cause(row: Row, e: LoggedEvent, kind: str, p: Mapping[str, Any]) -> None:
    """A root cause linked, its link undone, or waived: when the case's root cause settled."""
    if kind == "RootCauseLinked":
        row["root_cause_linked"] = True
    elif kind == "RootCauseLinkUndone":
        row["root_cause_linked"] = p.get("linked_root_cause_id") is not None
    else:
        row["root_cause_waived"] = True
    if not (row["root_cause_linked"] or row["root_cause_waived"]):
        row["root_cause_settled_at"] = None
    elif row["root_cause_settled_at"] is None:
        row["root_cause_settled_at"] = e.occurred_at


def fixed_twice(row: Row, ctx: ProjectionContext) -> bool:
    """Needed a root cause and had one linked or waived within the service level."""
    needed, settled = row["root_cause_needed_at"], row["root_cause_settled_at"]
    return needed is not None and settled is not None and settled <= needed + ctx.sla_root_cause


@dataclass
class _Counts:
    """Additive day counts of one batch: service rows by day, agent rows by (day, agent)."""

    service: dict[date, list[Any]] = field(default_factory=dict)
    agents: dict[tuple[date, str], list[Any]] = field(default_factory=dict)

    def add(self, e: LoggedEvent, index: int, p: Mapping[str, Any]) -> None:
        day = utc_day(e.occurred_at)
        counts = self.service.get(day)
        if counts is None:
            counts = self.service[day] = [day, *([0] * len(COUNTS)), 0, 0, 0]
        counts[index + 1] += 1
        slot = _AGENT_SLOTS.get(index)
        credited = e.actor_id if index == _KNOWN else p.get("owner_id")
        if slot is None or credited is None:
            return
        agent = self.agents.get((day, credited))
        if agent is None:
            agent = self.agents[(day, credited)] = [day, credited, 0, 0, 0, 0]
        agent[slot] += 1


def _affected(
    before: Mapping[str, tuple[Any, ...]], rows: Mapping[str, Row]
) -> tuple[set[date], set[tuple[date, str]]]:
    """Days and (day, agent) pairs whose recomputed figures may have changed."""
    days: set[date] = set()
    pairs: set[tuple[date, str]] = set()
    for key, row in rows.items():
        now = tuple(row[c] for c in _TRACKED)
        old = before.get(key)
        if now == old:
            continue
        for snapshot in (old, now):
            if snapshot is None:
                continue
            ack_day, resolved_day, _, _, owner, csat_day, needed_day, needed_owner, _ = snapshot
            days.update(d for d in (ack_day, resolved_day, csat_day, needed_day) if d is not None)
            if csat_day is not None and owner is not None:
                pairs.add((csat_day, owner))
            if needed_day is not None and needed_owner is not None:
                pairs.add((needed_day, needed_owner))
    return days, pairs


class MetricsProjection(Projection):
    """Daily service metrics and per-agent metrics."""

    name = "metrics"
    weight = 10
    tables = (SERVICE, AGENTS, CASES)
    handles = frozenset({*COUNTED, "ContactRecorded", *ROOT_CAUSE_EVENTS})

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Add the day counts, fold the per-case rows, recompute the affected days."""
        created = {e.envelope["aggregate_id"] for e in events if e.envelope["type"] == "CaseOpened"}
        wanted = {e.envelope["aggregate_id"] for e in events} - created
        rows = fetch_rows(cur, CASES, CASE_COLUMNS, "case_id", wanted)
        stored = {k: tuple(r.values()) for k, r in rows.items()}
        before = {k: tuple(r[c] for c in _TRACKED) for k, r in rows.items()}
        counts = _Counts()
        for e in events:
            env = e.envelope
            kind, p = env["type"], env["payload"]
            index = COUNTED.get(kind)
            if index is not None and (index != _KNOWN or p.get("known_answer_id") is not None):
                counts.add(e, index, p)
            if kind == "CaseOpened":
                rows[env["aggregate_id"]] = _opened(e)
            else:
                row = rows[env["aggregate_id"]]
                fold_case(row, e, kind, p)
                row["fixed_twice"] = fixed_twice(row, context)
        days, pairs = _affected(before, rows)

        store_rows(
            cur,
            CASES,
            CASE_COLUMNS,
            "case_id",
            changed_tuples(rows, CASE_COLUMNS, stored),
            stored=stored,
        )
        upsert_rows(cur, SERVICE, SERVICE_COUNT_COLUMNS, ("day",), list(counts.service.values()),
                    merge=_SERVICE_MERGE)  # fmt: skip
        upsert_rows(cur, AGENTS, AGENT_COUNT_COLUMNS, ("day", "agent_id"),
                    list(counts.agents.values()), merge=_AGENT_MERGE)  # fmt: skip
        if days:
            cur.execute(_SERVICE_RECOMPUTE, {"days": sorted(days)})
        if pairs:
            ordered = sorted(pairs)
            execute_keyed(
                cur,
                _AGENT_RECOMPUTE,
                {"days": [d for d, _ in ordered], "agents": [a for _, a in ordered]},
            )
