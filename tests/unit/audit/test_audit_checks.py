"""The checks of ``audit verify`` on in-memory logs and index rows built by the real domain."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from supportes.aggregates.hashchain import seal
from supportes.ops.audit_checks import Failure, IndexRow, LogRecord, Tally, audit_partition
from supportes.ops.audit_verify import AUTO_WORKERS_FROM, auto_workers
from supportes.projections.base import LoggedEvent
from tests.support.history import History

CASE = "6f1c3c1e-58f4-4a43-9a32-0d1b8f1e6a01"
ROOT = "0b7d2f1a-3c4e-4f5a-8b6c-7d8e9fa0b1c2"


def story() -> History:
    h = History()
    h.run("OpenCase", CASE, {"customer_id": "customer:1", "channel": "email",
          "subject": "Jam", "description": "Jams"}, actor="customer:1")  # fmt: skip
    h.run("IdentifyRootCause", ROOT, {"title": "Rollers", "description": "Worn"}, minutes=1)
    h.run("Acknowledge", CASE, {}, minutes=2)
    h.run("Assign", CASE, {"agent_id": "agent:bob"}, minutes=3)
    h.run("LinkRootCause", CASE, {"root_cause_id": ROOT}, minutes=4)
    h.run("Resolve", CASE, {"resolution": "New rollers"}, minutes=5)
    return h


def record(event: LoggedEvent, envelope: Mapping[str, Any] | None = None) -> LogRecord:
    body = event.envelope if envelope is None else envelope
    key = str(body["aggregate_id"]).encode()
    return LogRecord(event.partition, event.offset, key, json.dumps(body).encode())


def row(event: LoggedEvent, envelope: Mapping[str, Any] | None = None) -> IndexRow:
    body = copy.deepcopy(dict(event.envelope if envelope is None else envelope))
    columns = {
        c: body[c]
        for c in ("aggregate_id", "version", "aggregate_type", "event_id", "type", "command_id")
    }
    return IndexRow(event.partition, event.offset, {**columns, "hash": body["hash"]}, body)


def audit(
    records: Iterable[LogRecord],
    rows: Iterable[IndexRow],
    *,
    indexed_up_to: int | None = None,
    only: str | None = None,
) -> Tally:
    """Audit every partition the records or rows mention, in partition order (without rows:
    nothing is indexed yet)."""
    records, rows = list(records), list(rows)
    if indexed_up_to is None:
        indexed_up_to = 10**9 if rows else 0
    tally = Tally()
    for partition in sorted({r.partition for r in records} | {r.partition for r in rows}):
        audit_partition(
            tally,
            partition,
            sorted((r for r in records if r.partition == partition), key=lambda r: r.offset),
            sorted((r for r in rows if r.partition == partition), key=lambda r: r.offset),
            partitions=6,
            indexed_up_to=indexed_up_to,
            only=only,
        )
    return tally


def only_failure(tally: Tally) -> Failure:
    assert tally.failures_total == 1, tally.failures
    return tally.failures[0]


def test_a_clean_log_and_index_pass_every_check() -> None:
    events = story().events
    tally = audit([record(e) for e in events], [row(e) for e in events])
    assert tally.failures_total == 0
    assert {name: (c.checked, c.failed) for name, c in tally.checks.items()} == {
        name: (len(events), 0) for name in ("log", "versions", "hash_chain", "index")
    }
    assert sorted(tally.aggregates.values()) == ["Case", "RootCause"]
    assert tally.events == tally.index_rows == len(events)


def test_an_altered_event_with_its_old_hash_breaks_the_chain_at_its_version() -> None:
    events = story().events
    mine = [e for e in events if str(e.aggregate_id) == CASE]
    altered = copy.deepcopy(dict(mine[2].envelope))
    altered["payload"]["agent_id"] = "agent:mallory"
    records = [record(e, altered if e is mine[2] else None) for e in events]
    failure = only_failure(audit(records, []))
    assert (failure.check, failure.aggregate_id, failure.version) == ("hash_chain", CASE, 3)
    assert "hash mismatch" in failure.reason
    assert failure.describe().startswith(f"case {CASE} version 3: hash chain broken (hash mis")


def test_a_resealed_event_breaks_the_next_link() -> None:
    events = story().events
    mine = [e for e in events if str(e.aggregate_id) == CASE]
    resealed = seal({**mine[1].envelope, "occurred_at": "2026-01-01T00:00:00Z"})
    records = [record(e, resealed if e is mine[1] else None) for e in events]
    failure = only_failure(audit(records, []))
    assert (failure.check, failure.version) == ("hash_chain", 3)
    assert "prev_hash mismatch" in failure.reason


@pytest.mark.parametrize(
    ("drop", "reason"), [(1, "version gap: expected 2, found 3"), (None, "duplicate")]
)
def test_version_gaps_and_duplicates_are_named(drop: int | None, reason: str) -> None:
    events = [e for e in story().events if str(e.aggregate_id) == CASE]
    records = [record(e) for n, e in enumerate(events) if n != drop]
    if drop is None:  # replay version 2 at the end
        last = events[-1]
        records.append(LogRecord(last.partition, last.offset + 5, records[1].key, records[1].value))
    failure = only_failure(audit(records, []))
    assert failure.check == "versions"
    assert failure.version == (3 if drop else 2)
    assert reason in failure.reason


def test_one_chain_failure_per_aggregate_and_failures_in_log_order() -> None:
    events = story().events
    broken = [copy.deepcopy(dict(e.envelope)) for e in events]
    for envelope in broken:
        envelope["actor"] = {"id": "agent:mallory", "kind": "agent"}
    tally = audit([record(e, b) for e, b in zip(events, broken, strict=True)], [])
    assert tally.failures_total == 2  # the case and the root cause, once each
    assert [f.position for f in tally.failures] == sorted(f.position for f in tally.failures)
    assert tally.checks["hash_chain"].checked == 2


def test_an_altered_index_row_is_named_and_the_log_is_still_fine() -> None:
    events = story().events
    target = next(e for e in events if e.type == "CaseAssigned")
    forged = copy.deepcopy(dict(target.envelope))
    forged["payload"]["agent_id"] = "agent:mallory"
    rows = [row(e, forged if e is target else None) for e in events]
    failure = only_failure(audit([record(e) for e in events], rows))
    assert (failure.check, failure.aggregate_id, failure.version) == ("index", CASE, 3)
    assert failure.reason == "index envelope differs in payload"
    assert failure.describe().startswith(f"case {CASE} version 3: index differs from the log")


def test_an_index_column_disagreeing_with_its_envelope_is_named() -> None:
    events = story().events
    rows = [row(e) for e in events]
    rows[0] = IndexRow(rows[0].partition, rows[0].offset, {**rows[0].columns, "hash": "0" * 64},
                       rows[0].envelope)  # fmt: skip
    failure = only_failure(audit([record(e) for e in events], rows))
    assert failure.reason == "index column hash differs from the envelope"


def test_missing_rows_fail_inside_the_indexed_range_and_are_pending_beyond_it() -> None:
    events = [e for e in story().events if str(e.aggregate_id) == CASE]
    rows = [row(e) for e in events[:-2]]
    records = [record(e) for e in events]
    pending = audit(records, rows, indexed_up_to=events[-2].offset)
    assert pending.failures_total == 0
    assert pending.unindexed == 2
    missing = audit(records, rows, indexed_up_to=events[-1].offset)
    failure = only_failure(missing)
    assert (failure.check, failure.version) == ("index", events[-2].version)
    assert failure.reason == "no index row for this log event"


def test_an_index_row_not_on_the_log_is_named_at_its_position() -> None:
    events = [e for e in story().events if str(e.aggregate_id) == CASE]
    failure = only_failure(audit([record(e) for e in events[:-1]], [row(e) for e in events]))
    assert failure.reason == "index row not on the log"
    assert (failure.aggregate_id, failure.version) == (CASE, events[-1].version)
    assert (failure.partition, failure.offset) == (events[-1].partition, events[-1].offset)


def test_unusable_and_misrouted_records_fail_the_log_check() -> None:
    event = story().events[0]
    garbage = LogRecord(event.partition, 0, CASE.encode(), b"\xff not json")
    failure = only_failure(audit([garbage], []))
    assert (failure.check, failure.aggregate_id, failure.version) == ("log", CASE, None)
    assert failure.reason.startswith("not JSON")
    misrouted = LogRecord((event.partition + 1) % 6, 0, CASE.encode(), record(event).value)
    failure = only_failure(audit([misrouted], []))
    assert failure.reason == f"aggregate belongs on partition {event.partition}"
    rekeyed = LogRecord(event.partition, 0, b"someone-else", record(event).value)
    assert "is not the aggregate id" in only_failure(audit([rekeyed], [])).reason


def test_only_keeps_one_aggregate_even_when_others_mention_it() -> None:
    events = story().events
    root_events = [e for e in events if str(e.aggregate_id) == ROOT]
    assert any(CASE in json.dumps(e.envelope) for e in root_events)  # CaseAttached names it
    tally = audit([record(e) for e in events], [], only=ROOT)
    assert tally.events == len(root_events)
    assert set(tally.aggregates) == {ROOT}


def test_tallies_of_partitions_absorbed_in_order_equal_one_tally() -> None:
    """Worker processes check partitions apart; the merged report is the one-process one."""
    events = story().events
    records = [record(e) for e in events]
    records[2] = record(events[2], {**events[2].envelope, "actor": "forged"})
    rows = [row(e) for e in events if e is not events[3]]
    whole = audit(records, rows)
    merged = Tally(max_listed=1)
    for partition in sorted({r.partition for r in records}):
        merged.absorb(audit([r for r in records if r.partition == partition],
                            [r for r in rows if r.partition == partition]))  # fmt: skip
    assert merged.failures_total == whole.failures_total > 1
    assert merged.failures == whole.failures[:1]
    assert (merged.checks, merged.aggregates, merged.events) == (
        whole.checks, whole.aggregates, whole.events)  # fmt: skip
    assert (merged.index_rows, merged.unindexed) == (whole.index_rows, whole.unindexed)


def test_auto_workers_one_for_a_small_log_else_a_core_each_at_most_a_partition_each() -> None:
    cores = os.cpu_count() or 1
    assert auto_workers(AUTO_WORKERS_FROM - 1, 6) == 1
    assert auto_workers(AUTO_WORKERS_FROM, 6) == min(cores, 6)
    assert auto_workers(10**9, 1) == 1
