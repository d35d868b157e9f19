"""``case_timeline`` and ``root_cause_timeline``: one row per event with a human summary.

Root-cause events go to their own table (same columns, keyed by ``root_cause_id``) so that
``case_timeline.case_id`` is always a case. Both are written with COPY, append-only but for
erasure. ``via_id``/``via_kind`` name the integration that acted for the actor (null without
one).

``SubjectErased`` (:mod:`._erasure`) adds no row: last in the batch, every row of the erased
customer's cases (found by their ``CaseOpened`` rows) gets its personal payload fields masked
and its summary made again from the masked payload, as a rebuild would make them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg2.extensions

from supportes.db.copy import escape, to_json
from supportes.projections._common import CASE_EVENTS, ROOT_CAUSE_EVENTS, clip
from supportes.projections._erasure import SUBJECT_ERASED, erased_customers, masked_payload
from supportes.projections._pg import copy_buffer, execute_keyed, names, stage_rows
from supportes.projections.base import LoggedEvent, Projection, ProjectionContext

CASE_TABLE = "case_timeline"
ROOT_CAUSE_TABLE = "root_cause_timeline"
_TAIL = (
    "version", "event_id", "type", "occurred_at", "actor_id", "actor_kind", "summary",
    "payload", "command_id", "correlation_id", "partition", "offset", "via_id", "via_kind",
)  # fmt: skip
CASE_COLUMNS = ("case_id", *_TAIL)
ROOT_CAUSE_COLUMNS = ("root_cause_id", *_TAIL)

Summary = Callable[[Mapping[str, Any], str], str]
"""``(payload, actor_id) -> one human line``."""


def _with(text: str, extra: Any, fmt: str = ": {}") -> str:
    return text if extra in (None, "") else text + fmt.format(extra)


SUMMARIES: dict[str, Summary] = {
    "CaseOpened": lambda p, a: f"Opened by {p['customer_id']} via {p['channel']}"
    f" ({p.get('priority') or 'normal'}): {p['subject']}",
    "ContactRecorded": lambda p, a: f"{str(p['direction']).capitalize()} {p['channel']}"
    f" contact: {p['summary']}",
    "CaseReopened": lambda p, a: _with(f"Reopened: {p['reason']}", p.get("suggested_owner_id"),
                                       " (suggested owner {})"),
    "CaseAcknowledged": lambda p, a: f"Acknowledged via {p['channel']} with reference"
    f" {p['reference']}",
    "CaseAssigned": lambda p, a: _with(f"Assigned to {p['agent_id']}", p.get("reason")),
    "ResponsibilityTaken": lambda p, a: _with(f"{p['agent_id']} took responsibility",
                                              p.get("note")),
    "CaseEscalated": lambda p, a: _with(f"Escalated to {p['to_agent_id']}: {p['reason']}",
                                        p.get("authority"), " (authority: {})"),
    "CustomerUpdated": lambda p, a: f"Customer updated via {p['channel']}: {p['message']}",
    "CallbackScheduled": lambda p, a: _with(f"Callback scheduled for {p['due_at']}",
                                            p.get("agent_id"), " with {}"),
    "CallbackCompleted": lambda p, a: f"Callback completed: {p['outcome']}",
    "FixApplied": lambda p, a: _with(f"Fix applied ({p['kind']}): {p['summary']}",
                                     p.get("known_answer_id"), " [known answer {}]"),
    "CaseResolved": lambda p, a: f"Resolved (credited to {p['owner_id']}): {p['resolution']}",
    "RootCauseLinked": lambda p, a: f"Linked to root cause {p['root_cause_id']}",
    "RootCauseLinkUndone": lambda p, a: f"Link to root cause {p['root_cause_id']} undone: it"
    f" refused the case ({p['refusal']})" + (f"; linked to {p['linked_root_cause_id']} again"
                                            if p.get("linked_root_cause_id") else ""),
    "FollowUpScheduled": lambda p, a: f"Follow-up scheduled for {p['due_at']}",
    "FollowUpRecorded": lambda p, a: _with(f"Follow-up recorded: {p['outcome']}", p.get("note")),
    "FollowUpWaived": lambda p, a: f"Follow-up waived: {p['reason']}",
    "RootCauseWaived": lambda p, a: f"Root cause waived by {a}: {p['reason']}",
    "SatisfactionRated": lambda p, a: _with(
        _with(f"Rated {p['score']}/5", p.get("owner_id"), " (credited to {})"), p.get("comment")
    ),
    "CaseClosed": lambda p, a: f"Closed by {a}",
    "SuggestionNoted": lambda p, a: f"Suggestion noted: {p['suggestion']}",
    "RootCauseIdentified": lambda p, a: f"Identified: {p['title']}",
    "CaseAttached": lambda p, a: f"Case {p['case_id']} attached"
    + (" (recurrence after a verified fix)" if p.get("recurrence") else ""),
    "RootCauseReopened": lambda p, a: f"Reopened: {p['reason']}",
    "PreventiveActionPlanned": lambda p, a: _with(
        f"Preventive action {p['action_id']} planned ({p['kind']}, owner {p['owner_id']})"
        f": {p['description']}", p.get("due_at"), ", due {}"),
    "PreventiveActionCompleted": lambda p, a: f"Preventive action {p['action_id']} completed:"
    f" {p['evidence']}",
    "FixVerified": lambda p, a: _with("Fix verified", p.get("note")),
}  # fmt: skip
"""Event type -> summary line (cut to 240 characters by :func:`summary`)."""


def summary(event: LoggedEvent) -> str:
    """The human line of an event."""
    env = event.envelope
    return summary_of(env["type"], env["payload"], env["actor"]["id"])


def summary_of(event_type: str, payload: Mapping[str, Any], actor_id: str) -> str:
    """The human line of an event of ``event_type`` with ``payload`` by ``actor_id``."""
    make = SUMMARIES.get(event_type)
    return clip(make(payload, actor_id) if make else event_type)


def line(event: LoggedEvent) -> str:
    """The timeline row of an event as one COPY text line (``CASE_COLUMNS`` order)."""
    env = event.envelope
    actor = env["actor"]
    command_id = env.get("command_id")
    correlation_id = env.get("correlation_id")
    via = env.get("via")
    # uuid, integer and timestamp fields are not escaped: a tab, newline or backslash in one
    # cannot parse as its column type, so a malformed envelope fails the COPY, never shifts it.
    return "\t".join((
        str(env["aggregate_id"]), str(env["version"]), str(env["event_id"]), env["type"],
        str(env["occurred_at"]), escape(str(actor["id"])), escape(str(actor["kind"])),
        escape(summary(event)), escape(to_json(env["payload"])),
        "\\N" if command_id is None else str(command_id),
        "\\N" if correlation_id is None else str(correlation_id),
        str(event.partition), str(event.offset),
        "\\N\t\\N" if via is None else f"{escape(str(via['id']))}\t{escape(str(via['kind']))}",
    )) + "\n"  # fmt: skip


_SUBJECT_ROWS = """
SELECT t.case_id, t.version, t.type, t.actor_id, t.payload FROM case_timeline t
WHERE t.case_id IN (
    SELECT o.case_id FROM case_timeline o
    WHERE o.type = 'CaseOpened' AND o.payload->>'customer_id' = ANY(%s)
)
"""
MASKED_COLUMNS = ("case_id", "version", "summary", "payload")
_MASK = """
WITH s AS (DELETE FROM {stage} RETURNING {columns})
UPDATE case_timeline AS t SET summary = s.summary, payload = s.payload
FROM s WHERE t.case_id = s.case_id AND t.version = s.version
"""


def erase(cur: psycopg2.extensions.cursor, customers: list[str]) -> None:
    """Mask the personal payload fields of every row of ``customers``' cases and make their
    summaries again (one read, one update of the rows that change)."""
    cur.execute(_SUBJECT_ROWS, (customers,))
    changed = []
    for case_id, version, event_type, actor_id, payload in cur.fetchall():
        masked = masked_payload(event_type, payload)
        if masked != payload:
            changed.append((case_id, version, summary_of(event_type, masked, actor_id), masked))
    if changed:
        stage = stage_rows(cur, CASE_TABLE, MASKED_COLUMNS, changed)
        execute_keyed(cur, _MASK.format(stage=stage, columns=names(MASKED_COLUMNS)))


class TimelineProjection(Projection):
    """``case_timeline`` and ``root_cause_timeline``: every event, append-only."""

    name = "timeline"
    weight = 11
    tables = (CASE_TABLE, ROOT_CAUSE_TABLE)
    handles = CASE_EVENTS | ROOT_CAUSE_EVENTS | {SUBJECT_ERASED}

    def apply(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
    ) -> None:
        """COPY one row per event into the table of its aggregate type, then mask the erased
        customers' rows."""
        self.apply_prepared(cur, events, context, self.prepare(events))

    def prepare(self, events: Sequence[LoggedEvent]) -> tuple[str, str]:
        """The COPY text of the case rows and of the root-cause rows."""
        cases: list[str] = []
        root_causes: list[str] = []
        for event in events:
            if event.type in CASE_EVENTS:
                cases.append(line(event))
            elif event.type in ROOT_CAUSE_EVENTS:
                root_causes.append(line(event))
        return "".join(cases), "".join(root_causes)

    def apply_prepared(
        self,
        cur: psycopg2.extensions.cursor,
        events: Sequence[LoggedEvent],
        context: ProjectionContext,
        prepared: object,
    ) -> None:
        """COPY the rows :meth:`prepare` made, then mask the erased customers' rows."""
        assert isinstance(prepared, tuple)
        cases, root_causes = prepared
        copy_buffer(cur, CASE_TABLE, CASE_COLUMNS, cases)
        copy_buffer(cur, ROOT_CAUSE_TABLE, ROOT_CAUSE_COLUMNS, root_causes)
        erased = erased_customers(events)
        if erased:
            erase(cur, erased)
