"""The analytics reads behind ``supportes report`` and ``supportes queue``.

Each query reads documented ``proj`` tables only (design section 5), so what the CLI prints is
what an analytics job reading the same tables gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg2.extensions

from supportes.ops.queries import dict_rows


@dataclass(frozen=True)
class RepeatIssuesView:
    """One way of grouping repeat issues: its query and the columns people read first."""

    query: str
    columns: tuple[str, ...]


REPEAT_ISSUES: dict[str, RepeatIssuesView] = {
    "root-cause": RepeatIssuesView(
        "SELECT root_cause_id, title, status, cases_total, cases_open, cases_after_verification,"
        " first_seen_at, last_seen_at, preventive_actions, open_preventive_actions,"
        " open_action_ids, category, product, identified_at, verified_at, reopen_count"
        " FROM proj.repeat_issues_by_root_cause"
        " ORDER BY cases_total DESC, last_seen_at DESC NULLS LAST, root_cause_id LIMIT %s",
        (
            "root_cause_id", "title", "status", "cases_total", "cases_open",
            "cases_after_verification", "open_preventive_actions", "last_seen_at",
        ),
    ),
    "topic": RepeatIssuesView(
        "SELECT category, product, cases_total, cases_last_30_days, window_end_day,"
        " known_answers_given, cases_without_root_cause, reopenings, first_opened_at,"
        " last_opened_at FROM proj.repeat_issues_by_topic"
        " ORDER BY cases_total DESC, topic_key LIMIT %s",
        (
            "category", "product", "cases_total", "cases_last_30_days", "known_answers_given",
            "cases_without_root_cause", "reopenings", "last_opened_at",
        ),
    ),
    "customer": RepeatIssuesView(
        "SELECT customer_id, cases, reopenings, inbound_contacts, first_contact_at,"
        " last_contact_at FROM proj.repeat_contacts_by_customer"
        " ORDER BY cases DESC, inbound_contacts DESC, customer_id LIMIT %s",
        ("customer_id", "cases", "reopenings", "inbound_contacts", "last_contact_at"),
    ),
    "known-answer": RepeatIssuesView(
        "SELECT k.known_answer_id, k.times_given, k.cases, k.first_given_at, k.last_given_at,"
        " q.since_at IS NOT NULL AS recurring, q.since_at AS recurring_since"
        " FROM proj.known_answers AS k LEFT JOIN proj.follow_up_queue AS q"
        " ON q.kind = 'known_answer_recurring' AND q.item = k.known_answer_id"
        " ORDER BY k.times_given DESC, k.known_answer_id LIMIT %s",
        (
            "known_answer_id", "times_given", "cases", "recurring", "first_given_at",
            "last_given_at",
        ),
    ),
}  # fmt: skip

METRICS_COLUMNS = (
    "day", "opened", "resolved", "first_contact_resolutions", "first_contact_resolution_rate",
    "reopenings", "escalations", "csat_average", "csat_count", "median_seconds_to_acknowledge",
    "median_seconds_to_resolve", "root_cause_needed", "fix_twice_rate", "known_answers_given",
)  # fmt: skip

FOLLOW_UP_KINDS = (
    "acknowledge", "update_customer", "callback", "follow_up", "satisfaction",
    "preventive_action", "root_cause_needed", "known_answer_recurring",
)  # fmt: skip


def repeat_issues(
    conn: psycopg2.extensions.connection, by: str, limit: int
) -> list[dict[str, Any]]:
    """The top ``limit`` rows of one repeat-issue grouping (``by``: a key of REPEAT_ISSUES)."""
    return dict_rows(conn, REPEAT_ISSUES[by].query, (limit,))


def daily_metrics(
    conn: psycopg2.extensions.connection, first: date | None, last: date | None
) -> list[dict[str, Any]]:
    """``proj.service_metrics_daily`` rows for the UTC days ``first..last`` (inclusive)."""
    return dict_rows(
        conn,
        "SELECT * FROM proj.service_metrics_daily"
        " WHERE (%(first)s::date IS NULL OR day >= %(first)s)"
        " AND (%(last)s::date IS NULL OR day <= %(last)s) ORDER BY day",
        {"first": first, "last": last},
    )


def metrics_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over days: counts summed, rates and averages weighted by their counts."""

    def total(name: str) -> int:
        return sum(int(r.get(name) or 0) for r in rows)

    resolved_first = total("first_resolved")
    needed, twice = total("root_cause_needed"), total("fixed_twice")
    csat_count = total("csat_count")
    csat_sum = sum(float(r.get("csat_average") or 0) * int(r.get("csat_count") or 0) for r in rows)
    return {
        "day": "total",
        "opened": total("opened"),
        "resolved": total("resolved"),
        "first_contact_resolutions": total("first_contact_resolutions"),
        "first_contact_resolution_rate": (
            round(total("first_contact_resolutions") / resolved_first, 4)
            if resolved_first
            else None
        ),
        "reopenings": total("reopenings"),
        "escalations": total("escalations"),
        "csat_average": round(csat_sum / csat_count, 2) if csat_count else None,
        "csat_count": csat_count,
        "median_seconds_to_acknowledge": None,
        "median_seconds_to_resolve": None,
        "root_cause_needed": needed,
        "fixed_twice": twice,
        "fix_twice_rate": round(twice / needed, 4) if needed else None,
        "known_answers_given": total("known_answers_given"),
    }


def follow_ups_due(
    conn: psycopg2.extensions.connection,
    now: datetime,
    kind: str | None,
    owner: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Open follow-up items due at ``now`` (``due_at <= now``), most overdue first."""
    return dict_rows(
        conn,
        "SELECT due_at, kind, reference, case_id, root_cause_id, action_id, owner_id, priority,"
        " customer_id, since_at, detail, known_answer_id,"
        " EXTRACT(EPOCH FROM %(now)s - due_at)::bigint AS overdue_seconds"
        " FROM proj.follow_up_queue WHERE due_at <= %(now)s"
        " AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
        " AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)"
        " ORDER BY due_at, subject_id, kind, item LIMIT %(limit)s",
        {"now": now, "kind": kind, "owner": owner, "limit": limit},
    )
