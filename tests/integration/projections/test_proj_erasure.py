"""SubjectErased: every projection forgets the erased customer's text, as a rebuild would.

Before the erasure the projector sees a customer's personal fields opened (plaintext); once the
customer's keys are destroyed it sees each of them as its mask. So a rebuild after the erasure
folds events whose personal fields all read ``[erased]``: the live tables, masked by
``SubjectErased``, must equal those, whatever the batches and the interleaving.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportes.aggregates import subject_aggregate_id
from supportes.aggregates.personal import personal_fields
from supportes.aggregates.wire import BY_NAME
from supportes.projections.base import LoggedEvent
from tests.conftest import Isolated
from tests.support.history import History, apply_all, clear_tables, dump_tables, interleave, rows

ERIN, OLAF = "customer:erin", "customer:olaf"
RC = "00000000-0000-4000-8000-0000000000e1"
MASK = "[erased]"
Dump = dict[str, list[tuple[Any, ...]]]


def case_id(customer: str, n: int) -> str:
    """The id of the customer's case number ``n`` (1, 2 or 3 in these stories)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{customer}/case/{n}"))


def text(customer: str, field: str) -> str:
    return f'{customer.upper()}-secret {field} "quoted"\twith a tab'


def whole_story(h: History, customer: str, n: int, start: float) -> None:
    """A case with text in every personal field, reopened every way, escalated twice."""
    c = case_id(customer, n)

    def t(field: str) -> str:
        return text(customer, field)

    steps: list[tuple[str, dict[str, Any], str]] = [
        ("OpenCase", {"customer_id": customer, "channel": "email", "subject": t("subject"),
                      "description": t("description"), "priority": "urgent",
                      "category": "billing", "product": "router"}, customer),
        ("Acknowledge", {"channel": "email", "message": t("acknowledge")}, "agent:bob"),
        ("Assign", {"agent_id": "agent:bob", "reason": t("assign")}, "agent:bob"),
        ("RecordContact", {"direction": "inbound", "channel": "chat", "summary": t("contact")},
         customer),
        ("TakeResponsibility", {"note": t("responsibility")}, "agent:bob"),
        ("Escalate", {"to_agent_id": "agent:lead", "reason": t("escalate"),
                      "authority": t("authority")}, "agent:bob"),
        ("UpdateCustomer", {"channel": "email", "message": t("update")}, "agent:lead"),
        ("ScheduleCallback", {"due_at": "2031-01-01T00:00:00Z"}, "agent:lead"),
        ("CompleteCallback", {"outcome": t("callback")}, "agent:lead"),
        ("ApplyFix", {"kind": "answer", "summary": t("fix"), "known_answer_id": "KB-9"},
         "agent:lead"),
        ("LinkRootCause", {"root_cause_id": RC}, "agent:lead"),
        ("Resolve", {"resolution": t("resolution")}, "agent:lead"),
        ("RecordContact", {"direction": "inbound", "channel": "email", "summary": t("reply")},
         customer),  # reopens: "customer replied"
        ("Resolve", {"resolution": t("resolution again")}, "agent:lead"),
        ("RecordFollowUp", {"outcome": "not_resolved", "note": t("follow-up")}, "agent:lead"),
        ("Resolve", {"resolution": t("resolution at last")}, "agent:lead"),
        ("RecordFollowUp", {"outcome": "confirmed", "note": t("confirmed")}, "agent:lead"),
        ("Close", {}, "agent:lead"),
        ("RateSatisfaction", {"score": 2, "comment": t("rating")}, customer),
        ("Reopen", {"reason": t("reopen")}, "agent:bob"),  # reopens the closed intervals
        ("Escalate", {"to_agent_id": "agent:boss", "reason": t("escalate again")}, "agent:bob"),
        ("NoteSuggestion", {"suggestion": t("suggestion")}, "agent:boss"),
    ]  # fmt: skip
    for step, (kind, payload, actor) in enumerate(steps):
        h.run(kind, c, payload, minutes=start + step, actor=actor)


def short_story(h: History, customer: str, n: int, start: float) -> None:
    """A case escalated with an authority, resolved, its follow-up waived, closed."""
    c = case_id(customer, n)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("OpenCase", {"customer_id": customer, "channel": "phone",
                      "subject": text(customer, "subject 2"),
                      "description": text(customer, "d2")}),
        ("Assign", {"agent_id": "agent:ann"}),
        ("Escalate", {"to_agent_id": "agent:lead", "reason": text(customer, "why"),
                      "authority": text(customer, "refunds")}),
        ("Resolve", {"resolution": text(customer, "r2")}),
        ("WaiveFollowUp", {"reason": text(customer, "waiver")}),
        ("Close", {}),
    ]  # fmt: skip
    for step, (kind, payload) in enumerate(steps):
        actor = customer if kind == "OpenCase" else "agent:ann"
        h.run(kind, c, payload, minutes=start + step, actor=actor)


def erase(h: History, customer: str, minutes: float) -> LoggedEvent:
    payload = {"customer_id": customer, "key_fingerprints": ["ab" * 32]}
    (event,) = h.run(
        "EraseSubject", str(subject_aggregate_id(customer)), payload, minutes=minutes,
        actor="admin:root",
    )  # fmt: skip
    return event


@cache
def _history() -> tuple[tuple[LoggedEvent, ...], LoggedEvent]:
    """Erin's and Olaf's cases (plaintext, as projected before the erasure), and Erin's
    erasure."""
    h = History()
    h.run("IdentifyRootCause", RC, {"title": "Firmware", "description": "Drops the line"},
          minutes=0, actor="agent:lead")  # fmt: skip
    whole_story(h, ERIN, 1, 10)
    whole_story(h, OLAF, 1, 20)
    short_story(h, ERIN, 2, 300)
    short_story(h, OLAF, 2, 310)
    erasure = erase(h, ERIN, 400)
    return tuple(h.events[:-1]), erasure


@cache
def _small_history() -> tuple[tuple[LoggedEvent, ...], LoggedEvent]:
    """One short case each for Erin and Olaf, and Erin's erasure."""
    h = History()
    short_story(h, ERIN, 3, 0)
    short_story(h, OLAF, 3, 10)
    erasure = erase(h, ERIN, 20)
    return tuple(h.events[:-1]), erasure


def as_erased(events: Sequence[LoggedEvent], customer: str) -> list[LoggedEvent]:
    """``events`` as the projector sees them once ``customer``'s keys are gone: each personal
    field of the customer's cases' events (declared on the event) reads as its mask."""
    cases = {case_id(customer, n) for n in (1, 2, 3)}
    out = []
    for e in events:
        if e.envelope["aggregate_id"] not in cases:
            out.append(e)
            continue
        payload = dict(e.payload)
        for name, mark in personal_fields(BY_NAME[e.type].event_class).items():
            if payload.get(name) is not None:
                payload[name] = mark.mask
        out.append(LoggedEvent({**e.envelope, "payload": payload}, e.partition, e.offset))
    return out


def projected(dsn: str, *parts: Sequence[LoggedEvent], batch_size: int = 1000) -> Dump:
    """The tables after applying each part in turn (from empty tables)."""
    clear_tables(dsn)
    for part in parts:
        apply_all(dsn, part, batch_size=batch_size)
    return dump_tables(dsn)


def rebuilt(dsn: str, events: Sequence[LoggedEvent], erasure: LoggedEvent) -> Dump:
    """What a rebuild after the erasure gives."""
    return projected(dsn, [*as_erased(events, ERIN), erasure])


def mentions(dump: Dump, needle: str) -> list[str]:
    return [table for table, found in dump.items() if needle in repr(found)]


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_live_tables_after_an_erasure_are_a_rebuild_s(isolated: Isolated, batch_size: int) -> None:
    events, erasure = _history()
    live = projected(isolated.dsn, [*events, erasure], batch_size=batch_size)
    assert live == rebuilt(isolated.dsn, events, erasure)
    assert mentions(live, ERIN.upper()) == []
    assert set(mentions(live, OLAF.upper())) == {"case_view", "case_timeline", "responsibility"}


def test_the_texts_read_as_masks_and_nothing_else_changes(isolated: Isolated) -> None:
    events, erasure = _history()
    before = projected(isolated.dsn, events)
    apply_all(isolated.dsn, [erasure])
    after = dump_tables(isolated.dsn)
    erin = [case_id(ERIN, 1), case_id(ERIN, 2)]
    changed = {
        table: [r for r in before[table] if r not in after[table]]
        + [r for r in after[table] if r not in before[table]]
        for table in before
    }
    touched = {table for table, found in changed.items() if found}
    assert touched == {"case_view", "case_timeline", "responsibility"}
    for found in changed.values():  # only rows of Erin's cases
        assert all(any(str(value) in erin for value in row) for row in found)

    view = rows(isolated.dsn, "SELECT * FROM proj.case_view WHERE case_id = %s", (erin[0],))
    assert {k: view[0][k] for k in ("subject", "description", "resolution")} == dict.fromkeys(
        ("subject", "description", "resolution"), MASK
    )
    assert view[0]["status"] == "assigned"  # the rest of the row is as it was
    opened = rows(
        isolated.dsn,
        "SELECT summary, payload FROM proj.case_timeline WHERE case_id = %s AND version = 1",
        (erin[0],),
    )[0]
    assert opened["summary"] == f"Opened by {ERIN} via email (urgent): {MASK}"
    assert (opened["payload"]["subject"], opened["payload"]["customer_id"]) == (MASK, ERIN)
    notes = rows(
        isolated.dsn,
        "SELECT DISTINCT note FROM proj.responsibility WHERE case_id = ANY(%s::uuid[])",
        (erin,),
    )
    assert {r["note"] for r in notes} <= {MASK, None}
    assert MASK in {r["note"] for r in notes}


def test_a_second_erasure_changes_nothing(isolated: Isolated) -> None:
    events, erasure = _history()
    once = projected(isolated.dsn, [*events, erasure])
    again = LoggedEvent(erasure.envelope, erasure.partition, erasure.offset + 100)
    apply_all(isolated.dsn, [again])
    assert dump_tables(isolated.dsn) == once


def test_an_erasure_without_cases_or_with_others_in_its_batch(isolated: Isolated) -> None:
    events, erasure = _history()
    h = History()
    nobody = erase(h, "customer:nobody", 500)
    olaf = erase(h, OLAF, 501)
    live = projected(isolated.dsn, [*events, nobody, erasure, olaf])
    assert mentions(live, ERIN.upper()) == mentions(live, OLAF.upper()) == []
    masked = as_erased(as_erased(events, ERIN), OLAF)
    assert live == projected(isolated.dsn, [*masked, erasure, olaf, nobody])


def ordered(events: Sequence[LoggedEvent], erasure: LoggedEvent, at: int) -> list[LoggedEvent]:
    """The erasure at position ``at``: Erin's events after it arrive masked (her keys are gone
    by then); those before it, opened."""
    return [*events[:at], erasure, *as_erased(events[at:], ERIN)]


def test_any_split_of_the_batches_gives_the_rebuild(isolated: Isolated) -> None:
    events, erasure = _small_history()
    expected = rebuilt(isolated.dsn, events, erasure)
    for at in sorted({0, 4, len(events) // 2, len(events)}):
        log = ordered(events, erasure, at)
        for split in range(len(log) + 1):
            found = projected(isolated.dsn, log[:split], log[split:])
            assert found == expected, (at, split)


_BASELINES: dict[str, Dump] = {}


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5))
def test_any_interleaving_and_batches_give_the_rebuild(
    isolated: Isolated, seed: int, sizes: list[int]
) -> None:
    events, erasure = _history()
    if isolated.database not in _BASELINES:
        _BASELINES[isolated.database] = rebuilt(isolated.dsn, events, erasure)
    log = interleave([*events, erasure], random.Random(seed))
    at = log.index(erasure)
    log = [*log[: at + 1], *as_erased(log[at + 1 :], ERIN)]
    clear_tables(isolated.dsn)
    apply_all(isolated.dsn, log, batch_size=sizes)
    assert dump_tables(isolated.dsn) == _BASELINES[isolated.database]
