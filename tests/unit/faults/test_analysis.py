"""The log checker can fail: every anomaly planted in a hand-built log is reported in its class,
and a clean log (replays, rejections, an aborted cycle retried, an undone link) reports none."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from typing import Any

import pytest
from faults_logbuilder import PARTITIONS, LogBuilder

from supportes.errors import UsageError
from supportes.faults.analysis import analyse
from supportes.faults.model import CLASSES, CheckReport
from supportes.faults.projections import TableSum, compare_checksums
from supportes.faults.reader import parse_submitted
from supportes.messaging.routing import key_of, partition_for


def _opened() -> tuple[str, dict[str, Any]]:
    return ("CaseOpened", {"customer_id": "customer:1", "channel": "email"})


def _contact() -> tuple[str, dict[str, Any]]:
    return ("ContactRecorded", {"direction": "inbound", "channel": "email"})


def clean_log() -> LogBuilder:
    """Cases, a replay, a rejection, an aborted cycle and its committed retry, one root cause
    link attached and one undone."""
    log = LogBuilder()
    cases = [str(uuid.uuid4()) for _ in range(6)]
    for case in cases:
        log.cycle(case, [_opened()])
    first, _ = log.cycle(cases[0], [_contact(), _contact()])
    log.replay(first)
    log.cycle(str(uuid.uuid4()), [], status="rejected")
    retried = str(uuid.uuid4())
    log.cycle(cases[1], [_contact()], command_id=retried, commit=False)
    log.cycle(cases[1], [_contact()], command_id=retried)  # the same events, committed
    root = str(uuid.uuid4())
    log.cycle(root, [("RootCauseIdentified", {"title": "t"})])
    log.cycle(cases[2], [("RootCauseLinked", {"root_cause_id": root})])
    log.cycle(root, [("CaseAttached", {"case_id": cases[2], "recurrence": False})])
    other = str(uuid.uuid4())
    log.cycle(cases[3], [("RootCauseLinked", {"root_cause_id": other})])
    log.cycle(cases[3], [("RootCauseLinkUndone", {"root_cause_id": other})])
    return log


def counts(report: CheckReport) -> dict[str, int]:
    return {name: f.count for name, f in report.findings.items()}


def only(report: CheckReport, *classes: str) -> None:
    """``classes`` found something, and no other class did."""
    found = {name for name, count in counts(report).items() if count}
    assert found == set(classes), report.as_dict()


def a_case(log: LogBuilder) -> str:
    return str(next(iter(log.chains)))


def test_a_clean_log_reports_all_zeros() -> None:
    report = analyse(clean_log().snapshot())
    assert counts(report) == dict.fromkeys(CLASSES, 0), report.as_dict()
    assert report.ok
    assert report.totals["events_aborted"] == 1  # the aborted cycle was seen, and is fine
    assert report.totals["events_unindexed"] == 0


def test_a_doubled_event_is_reported() -> None:
    log = clean_log()
    case = a_case(log)
    event = next(
        json.loads(r.value) for r in log.views["events"].committed if case.encode() in r.key
    )
    partition = partition_for(case, PARTITIONS)
    forged = log.put("events", partition, key_of(case), event, visible=True)
    snapshot = log.snapshot()  # the forgery is past what the writer indexed
    report = analyse(
        dataclasses.replace(
            snapshot, indexed_up_to={**snapshot.indexed_up_to, partition: forged.offset}
        )
    )
    only(report, "events_per_result", "versions")
    assert report.findings["events_per_result"].examples[0]["kind"] == "doubled"
    assert report.findings["events_per_result"].examples[0]["event_id"] == event["event_id"]


def test_an_event_lost_from_the_log_is_reported_missing() -> None:
    log = clean_log()
    case = str(uuid.uuid4())
    log.cycle(case, [_opened()])
    log.views["events"].committed.pop()
    log.views["events"].uncommitted.pop()
    log.index[partition_for(case, PARTITIONS)].pop()
    report = analyse(log.snapshot())
    only(report, "events_per_result")
    assert report.findings["events_per_result"].examples[0]["kind"] == "missing"


@pytest.mark.parametrize(
    ("versions", "reason"),
    [([4], "gap"), ([1], "duplicate"), ([4, 3], "gap")],
    ids=["gap", "duplicate", "out-of-order"],
)
def test_version_anomalies_are_reported(versions: list[int], reason: str) -> None:
    log = clean_log()
    case = str(uuid.uuid4())
    log.cycle(case, [_opened()])
    log.cycle(case, [_contact()])
    log.cycle(case, [_contact()] * len(versions), versions=versions)
    report = analyse(log.snapshot())
    only(report, "versions")
    assert reason in report.findings["versions"].examples[0]["reason"]


def test_out_of_order_versions_in_offset_order_are_reported() -> None:
    log = clean_log()
    case = str(uuid.uuid4())
    log.cycle(case, [_opened()])
    log.cycle(case, [_contact()], versions=[3])
    log.cycle(case, [_contact()], versions=[2])
    report = analyse(log.snapshot())
    only(report, "versions")


def test_a_broken_hash_chain_is_reported() -> None:
    log = clean_log()
    case = str(uuid.uuid4())
    log.cycle(case, [_opened()])
    log.chains[case] = (1, "0" * 64)  # the next event links to a hash that is not there
    log.cycle(case, [_contact()])
    report = analyse(log.snapshot())
    only(report, "versions")
    assert report.findings["versions"].examples[0]["check"] == "hash_chain"


@pytest.mark.parametrize("hidden", ["events", "result"])
def test_a_torn_cycle_is_reported(hidden: str) -> None:
    log = clean_log()
    log.cycle(str(uuid.uuid4()), [_opened()], hide=hidden, index=hidden == "result")
    report = analyse(log.snapshot())
    if hidden == "events":
        only(report, "torn_transaction")
    else:  # its command has no visible answer either
        only(report, "torn_transaction", "answers")
    kind = "result_without_event" if hidden == "events" else "event_without_result"
    assert report.findings["torn_transaction"].examples[0]["kind"] == kind


def test_an_event_of_a_rejected_command_is_an_aborted_read() -> None:
    log = clean_log()
    case = a_case(log)
    log.cycle(case, [_contact()], status="rejected")
    report = analyse(log.snapshot())
    only(report, "aborted_read")
    assert report.findings["aborted_read"].examples[0]["kind"] == "event_of_rejected_command"


def test_an_aborted_event_visible_to_read_committed_is_an_aborted_read() -> None:
    log = clean_log()
    case = a_case(log)
    command_id, (event,) = log.cycle(case, [_contact()], commit=False)
    # the aborted event shows under read_committed, and nothing committed answers its command
    # the way a retry would (its only committed answer lists no events)
    record = log.put("events", partition_for(case, PARTITIONS), key_of(case), event, visible=True)
    log.index_row(record, event)
    log.chains[case] = (event["version"], event["hash"])
    log.cycle(case, [], status="rejected", command_id=command_id)
    report = analyse(log.snapshot())
    assert report.findings["aborted_read"].count >= 1
    kinds = {e["kind"] for e in report.findings["aborted_read"].examples}
    assert kinds == {"event_of_rejected_command"} | kinds
    # without the rejection: the aborted copy alone makes it an aborted read
    log2 = clean_log()
    case2 = a_case(log2)
    _, (event2,) = log2.cycle(case2, [_contact()], commit=False)
    record2 = log2.put(
        "events", partition_for(case2, PARTITIONS), key_of(case2), event2, visible=True
    )
    log2.index_row(record2, event2)
    report2 = analyse(log2.snapshot())
    examples = report2.findings["aborted_read"].examples
    assert [e["kind"] for e in examples] == ["event_of_aborted_transaction"]


def test_a_command_answered_twice_with_different_answers_is_reported() -> None:
    log = clean_log()
    case = a_case(log)
    command_id, _ = log.cycle(case, [_contact()])
    log.cycle(case, [], status="rejected", command_id=command_id)
    report = analyse(log.snapshot())
    only(report, "answers")
    example = report.findings["answers"].examples[0]
    assert example["kind"] == "several_first_answers"
    assert example["different"] is True
    assert example["command_id"] == command_id


def test_a_reused_idempotency_key_refusal_is_not_a_second_answer() -> None:
    log = clean_log()
    command_id, _ = log.cycle(a_case(log), [_contact()])
    refusal = {
        "command_id": command_id,
        "status": "rejected",
        "events": [],
        "error": {"code": "idempotency_key_reused", "message": "m", "field": "command_id"},
    }
    log.put("results", 0, b"k", refusal, visible=True)
    assert analyse(log.snapshot()).ok


def test_a_command_never_answered_is_reported() -> None:
    log = clean_log()
    never = str(uuid.uuid4())  # submitted, never reached the log
    on_log = str(uuid.uuid4())  # on the commands topic, never answered
    log.put("commands", 1, b"k", {"command_id": on_log}, visible=True)
    report = analyse(log.snapshot(submitted=frozenset(log.submitted | {never})))
    only(report, "answers")
    unanswered = {e["command_id"] for e in report.findings["answers"].examples}
    assert unanswered == {never, on_log}
    assert report.findings["answers"].count == 2


def test_a_changed_index_row_is_reported() -> None:
    log = clean_log()
    partition = next(p for p, rows in log.index.items() if rows)
    row = log.index[partition][0]
    envelope = copy.deepcopy(row.envelope)
    envelope["occurred_at"] = "2026-11-23T10:00:00Z"
    log.index[partition][0] = dataclasses.replace(row, envelope=envelope)
    report = analyse(log.snapshot())
    only(report, "index")
    assert "occurred_at" in report.findings["index"].examples[0]["reason"]


def test_an_open_transaction_is_reported() -> None:
    log = clean_log()
    log.cycle(a_case(log), [_contact()], open_=True)
    report = analyse(log.snapshot())
    only(report, "open_transaction", "answers")  # its command is not answered yet
    topics = {e["topic"] for e in report.findings["open_transaction"].examples}
    assert topics == {"events", "results"}
    assert report.totals["events_aborted"] == 1  # the open cycle's records are not aborted
    example = report.findings["open_transaction"].examples[0]
    assert example["stable_offset"] < example["high"]


def test_a_root_cause_link_without_attach_or_undo_is_reported() -> None:
    log = clean_log()
    case, root = a_case(log), str(uuid.uuid4())
    log.cycle(case, [("RootCauseLinked", {"root_cause_id": root})])
    # an attach of another case, an undo of another root cause: neither matches
    log.cycle(root, [("RootCauseIdentified", {"title": "t"})])
    log.cycle(root, [("CaseAttached", {"case_id": str(uuid.uuid4()), "recurrence": False})])
    log.cycle(case, [("RootCauseLinkUndone", {"root_cause_id": str(uuid.uuid4())})])
    report = analyse(log.snapshot())
    only(report, "root_cause_link")
    assert report.findings["root_cause_link"].examples[0]["root_cause_id"] == root


def test_examples_hold_ids_and_positions_never_payload_text() -> None:
    log = clean_log()
    log.cycle(a_case(log), [("ContactRecorded", {"summary": "SECRET-TEXT"})], status="rejected")
    report = analyse(log.snapshot())
    assert report.findings["aborted_read"].count == 1
    assert "SECRET-TEXT" not in json.dumps(report.as_dict())


def test_projection_checksums_compare_per_table() -> None:
    live = {"case_view": TableSum(3, "a"), "known_answers": TableSum(1, "b")}
    assert compare_checksums(live, dict(live)) == []
    rebuilt = {"case_view": TableSum(3, "c"), "timeline": TableSum(0, "d")}
    differences = compare_checksums(live, rebuilt)
    assert [(d["table"], d["kind"]) for d in differences] == [
        ("proj.case_view", "contents_differ"),
        ("proj.known_answers", "missing_table"),
        ("proj.timeline", "missing_table"),
    ]
    log = clean_log()
    report = analyse(log.snapshot(projection_differences=differences))
    only(report, "projections")
    assert report.findings["projections"].count == 3


def test_the_submitted_list_takes_strings_or_objects() -> None:
    lines = ['"a"', "", '{"command_id": "b", "status": "sent"}']
    assert parse_submitted(lines) == ["a", "b"]
    with pytest.raises(UsageError, match="line 1: no command_id"):
        parse_submitted(['{"id": "c"}'])
