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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg2.extensions

from supportes.projections._common import Row, utc_day
from supportes.projections._pg import changed_tuples, execute_keyed, fetch_rows, upsert_rows
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

SERVICE = "service_metrics_daily"
AGENTS = "agent_metrics_daily"
CASES = "metrics_cases"
CASE_COLUMNS = (
    "case_id", "opened_at", "acknowledged_at", "ack_day", "first_resolved_at",
    "first_resolved_day", "inbound_contacts", "reopen_count", "escalations", "fcr",
    "csat_score", "csat_owner_id", "csat_day",
)  # fmt: skip
COUNTS = ("opened", "acknowledged", "resolved", "reopenings", "escalations", "closed", "ratings")
COUNTED: dict[str, int] = {
    "CaseOpened": 0, "CaseAcknowledged": 1, "CaseResolved": 2, "CaseReopened": 3,
    "CaseEscalated": 4, "CaseClosed": 5, "SatisfactionRated": 6,
}  # fmt: skip
"""Event type -> index in :data:`COUNTS`."""
_RESOLVED, _RATED = COUNTED["CaseResolved"], COUNTED["SatisfactionRated"]
_TRACKED = ("ack_day", "first_resolved_day", "fcr", "csat_score", "csat_owner_id", "csat_day")

SERVICE_COUNT_COLUMNS = (
    "day", *COUNTS, "first_resolved", "first_contact_resolutions", "csat_count",
)  # fmt: skip
AGENT_COUNT_COLUMNS = ("day", "agent_id", "cases_resolved", "ratings", "csat_count")
_SERVICE_MERGE = ", ".join(f"{c} = t.{c} + excluded.{c}" for c in COUNTS)
_AGENT_MERGE = ", ".join(f"{c} = t.{c} + excluded.{c}" for c in ("cases_resolved", "ratings"))
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
), computed AS (
    SELECT days.day, coalesce(res.n, 0) AS first_resolved, coalesce(res.fcr, 0) AS fcr,
           CASE WHEN res.n > 0 THEN round(res.fcr::numeric / res.n, 4) END AS rate,
           coalesce(csat.n, 0) AS csat_count, csat.average AS csat_average,
           ack.median AS ack_median, res.median AS resolve_median
    FROM days LEFT JOIN ack USING (day) LEFT JOIN res USING (day) LEFT JOIN csat USING (day)
)
UPDATE service_metrics_daily AS t
SET first_resolved = c.first_resolved, first_contact_resolutions = c.fcr,
    first_contact_resolution_rate = c.rate, csat_count = c.csat_count,
    csat_average = c.csat_average, median_seconds_to_acknowledge = c.ack_median,
    median_seconds_to_resolve = c.resolve_median
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
)
UPDATE agent_metrics_daily AS t
SET csat_count = coalesce(csat.n, 0), csat_average = csat.average
FROM pairs p LEFT JOIN csat USING (day, agent_id)
WHERE t.day = p.day AND t.agent_id = p.agent_id
"""


def _opened(e: LoggedEvent) -> Row:
    return {
        "case_id": e.envelope["aggregate_id"], "opened_at": e.occurred_at,
        "acknowledged_at": None, "ack_day": None, "first_resolved_at": None,
        "first_resolved_day": None, "inbound_contacts": 1, "reopen_count": 0, "escalations": 0,
        "fcr": False, "csat_score": None, "csat_owner_id": None, "csat_day": None,
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
        if index not in (_RESOLVED, _RATED) or p.get("owner_id") is None:
            return
        agent = self.agents.get((day, p["owner_id"]))
        if agent is None:
            agent = self.agents[(day, p["owner_id"])] = [day, p["owner_id"], 0, 0, 0]
        agent[2 if index == _RESOLVED else 3] += 1


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
            ack_day, resolved_day, _, _, owner, csat_day = snapshot
            if ack_day is not None:
                days.add(ack_day)
            if resolved_day is not None:
                days.add(resolved_day)
            if csat_day is not None:
                days.add(csat_day)
                if owner is not None:
                    pairs.add((csat_day, owner))
    return days, pairs


class MetricsProjection(Projection):
    """Daily service metrics and per-agent metrics."""

    name = "metrics"
    weight = 10
    tables = (SERVICE, AGENTS, CASES)
    handles = frozenset({*COUNTED, "ContactRecorded"})

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
            if index is not None:
                counts.add(e, index, p)
            if kind == "CaseOpened":
                rows[env["aggregate_id"]] = _opened(e)
            else:
                fold_case(rows[env["aggregate_id"]], e, kind, p)
        days, pairs = _affected(before, rows)

        upsert_rows(
            cur, CASES, CASE_COLUMNS, ("case_id",), changed_tuples(rows, CASE_COLUMNS, stored)
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
