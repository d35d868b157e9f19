"""Repeat-issue reports: by root cause, by topic, by customer, and known answers given again.

One projection owns the four public tables and their internal state:

* ``repeat_issues_cases``: per case its customer, topic, open/resolved/closed status, root
  cause and known answers given (so events that do not carry them can be attributed).
* ``repeat_rc_links``: cases attached to root causes (``CaseAttached``), with recurrences.
* ``repeat_issues_topic_daily``: cases opened per topic and UTC day.

Counters of the by-topic, by-customer and known-answer tables are additive, so each batch adds
its per-key deltas with one upsert per table. The root-cause counts depend on cases whose events
live on other partitions and may be projected before or after their ``CaseAttached``; they are
kept incrementally too (:func:`link_count_deltas`): a new link counts the case once, and as open
if the case is open now; a linked case that becomes open or stops being open moves
``cases_open`` of every root cause it was already linked to. The work per batch depends on the
batch, never on how many cases a root cause has. ``cases_last_30_days`` is recomputed for all
topics whenever cases were opened: the window ends on the latest opening day seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg2.extensions

from supportes.projections._common import (
    ROOT_CAUSE_EVENTS,
    Row,
    utc_day,
)
from supportes.projections._pg import (
    as_tuples,
    changed_tuples,
    fetch_rows,
    store_rows,
    update_rows,
    upsert_rows,
)
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

BY_ROOT_CAUSE = "repeat_issues_by_root_cause"
BY_TOPIC = "repeat_issues_by_topic"
BY_CUSTOMER = "repeat_contacts_by_customer"
KNOWN_ANSWERS = "known_answers"
CASES = "repeat_issues_cases"
LINKS = "repeat_rc_links"
TOPIC_DAILY = "repeat_issues_topic_daily"

CASE_COLUMNS = (
    "case_id", "customer_id", "category", "product", "status", "root_cause_id", "known_answers",
)  # fmt: skip
ROOT_CAUSE_COLUMNS = (
    "root_cause_id", "title", "description", "category", "product", "status", "identified_at",
    "verified_at", "reopen_count", "cases_total", "cases_open", "cases_after_verification",
    "first_seen_at", "last_seen_at", "preventive_actions", "open_preventive_actions",
    "open_action_ids", "updated_at", "version",
)  # fmt: skip
LINK_COUNTS = (
    "cases_total", "cases_open", "cases_after_verification", "first_seen_at", "last_seen_at",
)  # fmt: skip
ROOT_CAUSE_FOLDED = tuple(c for c in ROOT_CAUSE_COLUMNS[1:] if c not in LINK_COUNTS)
CASE_HANDLES = frozenset({
    "CaseOpened", "ContactRecorded", "CaseReopened", "FixApplied", "CaseResolved", "CaseClosed",
    "RootCauseLinked", "RootCauseLinkUndone",
})  # fmt: skip
WINDOW_DAYS = 30
_STATUS = CASE_COLUMNS.index("status")

CUSTOMER_COLUMNS = (
    "customer_id", "cases", "reopenings", "inbound_contacts", "first_contact_at",
    "last_contact_at",
)  # fmt: skip
TOPIC_COLUMNS = (
    "topic_key", "category", "product", "cases_total", "cases_last_30_days",
    "known_answers_given", "cases_without_root_cause", "reopenings", "first_opened_at",
    "last_opened_at",
)  # fmt: skip
DAILY_COLUMNS = ("topic_key", "category", "product", "day", "cases")
ANSWER_COLUMNS = ("known_answer_id", "times_given", "cases", "first_given_at", "last_given_at")
LINK_COLUMNS = (
    "root_cause_id", "case_id", "first_attached_at", "last_attached_at", "attachments",
    "recurrence",
)  # fmt: skip


def _adding(*counters: str, first: str | None = None, last: str | None = None) -> str:
    """The ``SET`` list of an additive upsert (``t``: existing row, ``excluded``: deltas)."""
    sets = [f"{c} = t.{c} + excluded.{c}" for c in counters]
    if first:
        sets.append(f"{first} = least(t.{first}, excluded.{first})")
    if last:
        sets.append(f"{last} = greatest(t.{last}, excluded.{last})")
    return ", ".join(sets)


_CUSTOMERS = _adding("cases", "reopenings", "inbound_contacts", first="first_contact_at",
                     last="last_contact_at")  # fmt: skip
_TOPICS = _adding("cases_total", "known_answers_given", "cases_without_root_cause",
                  "reopenings", first="first_opened_at", last="last_opened_at")  # fmt: skip
_DAILY = _adding("cases")
_ANSWERS = _adding("times_given", "cases", first="first_given_at", last="last_given_at")
_LINKS = (
    _adding("attachments", first="first_attached_at", last="last_attached_at")
    + ", recurrence = t.recurrence OR excluded.recurrence"
)
_ADD_LINK_COUNTS = (
    "cases_total = t.cases_total + s.cases_total, cases_open = t.cases_open + s.cases_open,"
    " cases_after_verification = t.cases_after_verification + s.cases_after_verification,"
    " first_seen_at = least(t.first_seen_at, s.first_seen_at),"
    " last_seen_at = greatest(t.last_seen_at, s.last_seen_at)"
)
"""How :func:`link_count_deltas` rows move a root cause's counts (``least``/``greatest``
ignore NULL)."""
_LINKS_AND_OPEN_CASES = """
SELECT root_cause_id::text, case_id::text, recurrence FROM repeat_rc_links
WHERE case_id = ANY(%s::uuid[])
UNION ALL
SELECT NULL, case_id::text, status = 'open' FROM repeat_issues_cases
WHERE case_id = ANY(%s::uuid[])
"""
_TOPIC_WINDOW = f"""
WITH w AS (
    SELECT max(day) AS end_day FROM repeat_issues_topic_daily
), recent AS (
    SELECT d.topic_key, sum(d.cases)::integer AS n
    FROM repeat_issues_topic_daily d, w
    WHERE d.day > w.end_day - {WINDOW_DAYS}
    GROUP BY d.topic_key
), computed AS (
    SELECT t.topic_key, coalesce(recent.n, 0) AS n, w.end_day
    FROM repeat_issues_by_topic t CROSS JOIN w LEFT JOIN recent USING (topic_key)
)
UPDATE repeat_issues_by_topic AS t
SET cases_last_30_days = c.n, window_end_day = c.end_day
FROM computed c
WHERE t.topic_key = c.topic_key
  AND (t.cases_last_30_days <> c.n OR t.window_end_day IS DISTINCT FROM c.end_day)
"""


@lru_cache(maxsize=4096)
def topic_key(category: str | None, product: str | None) -> str:
    """The key of a topic: the JSON array ``[category, product]``."""
    return json.dumps([category, product], ensure_ascii=False, separators=(",", ":"))


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Deltas:
    """Additive changes of one batch, merged per key (first/last times merged by min/max)."""

    customers: dict[str, list[Any]] = field(default_factory=dict)
    topics: dict[str, list[Any]] = field(default_factory=dict)
    daily: dict[tuple[str, Any], list[Any]] = field(default_factory=dict)
    answers: dict[str, list[Any]] = field(default_factory=dict)
    links: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    opened: bool = False

    def customer(
        self, row: Row, *, cases: int = 0, reopenings: int = 0, inbound: int = 0,
        at: datetime | None = None,
    ) -> None:  # fmt: skip
        d = self.customers.get(row["customer_id"])
        if d is None:
            d = self.customers[row["customer_id"]] = [row["customer_id"], 0, 0, 0, None, None]
        d[1] += cases
        d[2] += reopenings
        d[3] += inbound
        d[4], d[5] = _earliest(d[4], at), _latest(d[5], at)

    def topic(
        self, row: Row, *, cases: int = 0, answers: int = 0, without: int = 0,
        reopenings: int = 0, opened_at: datetime | None = None,
    ) -> None:  # fmt: skip
        key = topic_key(row["category"], row["product"])
        d = self.topics.get(key)
        if d is None:
            d = self.topics[key] = [key, row["category"], row["product"], 0, 0, 0, 0, 0, None, None]
        d[3] += cases
        d[5] += answers
        d[6] += without
        d[7] += reopenings
        d[8], d[9] = _earliest(d[8], opened_at), _latest(d[9], opened_at)
        if opened_at is not None:
            day = utc_day(opened_at)
            daily = self.daily.get((key, day))
            if daily is None:
                daily = self.daily[(key, day)] = [key, row["category"], row["product"], day, 0]
            daily[4] += 1

    def answer(self, known_answer_id: str, at: datetime, *, new_case: bool) -> None:
        d = self.answers.get(known_answer_id)
        if d is None:
            d = self.answers[known_answer_id] = [known_answer_id, 0, 0, at, at]
        d[1] += 1
        d[2] += int(new_case)
        d[3], d[4] = min(d[3], at), max(d[4], at)

    def link(self, root_cause: str, case: str, at: datetime, recurrence: bool) -> None:
        d = self.links.get((root_cause, case))
        if d is None:
            d = self.links[(root_cause, case)] = [root_cause, case, at, at, 0, False]
        d[2], d[3] = min(d[2], at), max(d[3], at)
        d[4] += 1
        d[5] = d[5] or recurrence


def link_count_deltas(
    links: Mapping[tuple[str, str], Sequence[Any]],
    open_changes: Mapping[str, int],
    old_links: Mapping[tuple[str, str], bool],
    open_now: Mapping[str, bool],
) -> list[list[Any]]:
    """Per root cause, what a batch adds to its link counts (``LINK_COUNTS`` after the id).

    ``links``: the batch's attachments by ``(root_cause_id, case_id)`` (``LINK_COLUMNS``
    order); ``open_changes``: +1/-1 for each case that became / stopped being open in the batch;
    ``old_links``: the links of those cases (and of the attached ones) before the batch, with
    their ``recurrence``; ``open_now``: whether each attached case is open after the batch (a
    case not projected yet is not open).
    """
    deltas: dict[str, list[Any]] = {}

    def delta(root_cause: str) -> list[Any]:
        entry = deltas.get(root_cause)
        if entry is None:
            entry = deltas[root_cause] = [root_cause, 0, 0, 0, None, None]
        return entry

    for root_cause, case in old_links:
        change = open_changes.get(case, 0)
        if change:
            delta(root_cause)[2] += change
    for (root_cause, case), link in links.items():
        entry = delta(root_cause)
        entry[4], entry[5] = _earliest(entry[4], link[2]), _latest(entry[5], link[3])
        recurrence = bool(link[5])
        before = old_links.get((root_cause, case))
        if before is None:
            entry[1] += 1
            entry[2] += int(open_now.get(case, False))
            entry[3] += int(recurrence)
        elif recurrence and not before:
            entry[3] += 1
    return [e for e in deltas.values() if e[1] or e[2] or e[3] or e[4] is not None]


def fold_case(d: _Deltas, rows: dict[str, Row], e: LoggedEvent) -> None:
    """Apply one case event to the case rows and the batch deltas."""
    env = e.envelope
    p: Mapping[str, Any] = env["payload"]
    kind, key = env["type"], env["aggregate_id"]
    if kind == "CaseOpened":
        row = rows[key] = {
            "case_id": key, "customer_id": p["customer_id"], "category": p.get("category"),
            "product": p.get("product"), "status": "open", "root_cause_id": None,
            "known_answers": [],
        }  # fmt: skip
        d.customer(row, cases=1, inbound=1, at=e.occurred_at)
        d.topic(row, cases=1, without=1, opened_at=e.occurred_at)
        d.opened = True
        return
    row = rows[key]
    if kind == "ContactRecorded":
        if p["direction"] == "inbound":
            d.customer(row, inbound=1, at=e.occurred_at)
    elif kind == "CaseReopened":
        d.customer(row, reopenings=1)
        d.topic(row, reopenings=1)
        row["status"] = "open"
    elif kind == "FixApplied":
        answer = p.get("known_answer_id")
        if answer is not None:
            new_case = answer not in row["known_answers"]
            if new_case:
                row["known_answers"] = [*row["known_answers"], answer]
            d.answer(answer, e.occurred_at, new_case=new_case)
            d.topic(row, answers=1)
    elif kind == "CaseResolved":
        row["status"] = "resolved"
    elif kind == "CaseClosed":
        row["status"] = "closed"
    elif kind in ("RootCauseLinked", "RootCauseLinkUndone"):
        now = p["root_cause_id"] if kind == "RootCauseLinked" else p["linked_root_cause_id"]
        if (row["root_cause_id"] is None) != (now is None):
            d.topic(row, without=-1 if now is not None else 1)
        row["root_cause_id"] = now


def fold_root_cause(d: _Deltas, rows: dict[str, Row], e: LoggedEvent) -> None:
    """Apply one root-cause event to the root-cause rows and the batch deltas."""
    env = e.envelope
    p: Mapping[str, Any] = env["payload"]
    kind, key = env["type"], env["aggregate_id"]
    if kind == "RootCauseIdentified":
        row = rows[key] = {
            "root_cause_id": key, "title": p["title"], "description": p["description"],
            "category": p.get("category"), "product": p.get("product"), "status": "open",
            "identified_at": e.occurred_at, "verified_at": None, "reopen_count": 0,
            "cases_total": 0, "cases_open": 0, "cases_after_verification": 0,
            "first_seen_at": None, "last_seen_at": None, "preventive_actions": 0,
            "open_preventive_actions": 0, "open_action_ids": [],
        }  # fmt: skip
    else:
        row = rows[key]
    if kind == "CaseAttached":
        d.link(key, str(p["case_id"]), e.occurred_at, bool(p.get("recurrence")))
    elif kind == "RootCauseReopened":
        row["status"] = "reopened"
        row["reopen_count"] += 1
    elif kind == "PreventiveActionPlanned":
        row["preventive_actions"] += 1
        row["open_action_ids"] = [*row["open_action_ids"], p["action_id"]]
    elif kind == "PreventiveActionCompleted":
        row["open_action_ids"] = [a for a in row["open_action_ids"] if a != p["action_id"]]
    elif kind == "FixVerified":
        row["status"] = "verified"
        row["verified_at"] = e.occurred_at
    row["open_preventive_actions"] = len(row["open_action_ids"])
    row["updated_at"] = e.occurred_at
    row["version"] = env["version"]


class RepeatIssuesProjection(Projection):
    """Repeat issues by root cause, topic and customer, and known answers given again."""

    name = "repeat_issues"
    weight = 11
    tables = (BY_ROOT_CAUSE, BY_TOPIC, BY_CUSTOMER, KNOWN_ANSWERS, CASES, LINKS, TOPIC_DAILY)
    handles = CASE_HANDLES | ROOT_CAUSE_EVENTS
    serialized = True  # root causes' link counts read cases other partitions write

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """Fold cases and root causes, add the deltas, then recompute the cross-aggregate counts."""
        d = _Deltas()
        case_events = [e for e in events if e.envelope["type"] in CASE_HANDLES]
        rc_events = [e for e in events if e.envelope["type"] in ROOT_CAUSE_EVENTS]
        cases = self._read(cur, CASES, CASE_COLUMNS, "case_id", case_events, creating="CaseOpened")
        cases_before = {k: tuple(r.values()) for k, r in cases.items()}
        for e in case_events:
            fold_case(d, cases, e)
        root_causes = self._read(
            cur, BY_ROOT_CAUSE, ROOT_CAUSE_COLUMNS, "root_cause_id", rc_events,
            creating="RootCauseIdentified",
        )  # fmt: skip
        for e in rc_events:
            fold_root_cause(d, root_causes, e)

        store_rows(
            cur, CASES, CASE_COLUMNS, "case_id",
            changed_tuples(cases, CASE_COLUMNS, cases_before), stored=cases_before,
        )  # fmt: skip
        upsert_rows(
            cur, BY_ROOT_CAUSE, ROOT_CAUSE_COLUMNS, ("root_cause_id",),
            as_tuples(root_causes.values(), ROOT_CAUSE_COLUMNS), update=ROOT_CAUSE_FOLDED,
        )  # fmt: skip
        self._add_link_counts(cur, d, cases, cases_before)
        for table, columns, key, deltas, merge in (
            (LINKS, LINK_COLUMNS, ("root_cause_id", "case_id"), d.links, _LINKS),
            (BY_CUSTOMER, CUSTOMER_COLUMNS, ("customer_id",), d.customers, _CUSTOMERS),
            (BY_TOPIC, TOPIC_COLUMNS, ("topic_key",), d.topics, _TOPICS),
            (TOPIC_DAILY, DAILY_COLUMNS, ("topic_key", "day"), d.daily, _DAILY),
            (KNOWN_ANSWERS, ANSWER_COLUMNS, ("known_answer_id",), d.answers, _ANSWERS),
        ):
            upsert_rows(cur, table, columns, key, list(deltas.values()), merge=merge)
        if d.opened:
            cur.execute(_TOPIC_WINDOW)

    @staticmethod
    def _add_link_counts(
        cur: psycopg2.extensions.cursor,
        d: _Deltas,
        cases: Mapping[str, Row],
        cases_before: Mapping[str, tuple[Any, ...]],
    ) -> None:
        """Move the root causes' link counts by what this batch changed (before ``d.links``
        is written: the links read back are the ones from earlier batches)."""
        open_changes = {}
        for key, row in cases.items():
            before = cases_before.get(key)
            change = int(row["status"] == "open") - int(
                before is not None and before[_STATUS] == "open"
            )
            if change:
                open_changes[key] = change
        attached = {case for _, case in d.links}
        if not attached and not open_changes:
            return
        cur.execute(
            _LINKS_AND_OPEN_CASES,
            (sorted(attached | open_changes.keys()), sorted(attached - cases.keys())),
        )
        old_links: dict[tuple[str, str], bool] = {}
        open_now = {key: cases[key]["status"] == "open" for key in attached & cases.keys()}
        for root_cause, case, flag in cur.fetchall():
            if root_cause is None:
                open_now[case] = bool(flag)
            else:
                old_links[(root_cause, case)] = bool(flag)
        deltas = link_count_deltas(d.links, open_changes, old_links, open_now)
        update_rows(
            cur, BY_ROOT_CAUSE, ("root_cause_id", *LINK_COUNTS), "root_cause_id", deltas,
            merge=_ADD_LINK_COUNTS,
        )  # fmt: skip

    @staticmethod
    def _read(
        cur: psycopg2.extensions.cursor,
        table: str,
        columns: Sequence[str],
        key: str,
        events: Sequence[LoggedEvent],
        *,
        creating: str,
    ) -> dict[str, Row]:
        created = {e.envelope["aggregate_id"] for e in events if e.envelope["type"] == creating}
        wanted = {e.envelope["aggregate_id"] for e in events} - created
        return fetch_rows(cur, table, columns, key, wanted)
