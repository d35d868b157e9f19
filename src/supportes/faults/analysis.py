"""The checks, pure: a :class:`~supportes.faults.model.LogSnapshot` in, a report out.

Only ids and positions go into examples, never payload text (it can be personal data).
Per-partition version, hash chain and index checks are :mod:`supportes.ops.audit_checks`'
(``audit_partition``), run on the read_committed events.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from supportes.consumers.records import is_replayed
from supportes.faults.model import CheckReport, LogSnapshot, Record, TopicView
from supportes.ops.audit_checks import LogRecord, Tally, audit_partition

REUSED_KEY = "idempotency_key_reused"


@dataclass(frozen=True)
class Parsed:
    """A record and its JSON object value (None when the value is not a JSON object)."""

    record: Record
    value: dict[str, Any] | None

    def get(self, name: str) -> Any:
        return None if self.value is None else self.value.get(name)

    def where(self) -> dict[str, Any]:
        return {"partition": self.record.partition, "offset": self.record.offset}


def analyse(snapshot: LogSnapshot) -> CheckReport:
    """Every anomaly class of ``snapshot`` counted, with examples."""
    report = CheckReport()
    results = [_parse(r) for r in snapshot.topic("results").committed]
    events = [_parse(r) for r in snapshot.topic("events").committed]
    aborted = {name: aborted_records(view) for name, view in snapshot.topics.items()}
    aborted_events = [_parse(r) for r in aborted.get("events", [])]
    uncommitted_ids = {
        p.get("event_id") for p in map(_parse, snapshot.topic("events").uncommitted)
    } - {None}
    answers = _Answers(results)
    _check_answers(report, snapshot, answers)
    _check_events(report, answers, events, uncommitted_ids)
    _check_aborted_reads(report, answers, events, aborted_events)
    _check_events_without_result(report, answers, events)
    _check_chains_and_index(report, snapshot)
    _check_open_transactions(report, snapshot)
    _check_root_cause_links(report, events)
    for difference in snapshot.projection_differences:
        report.findings["projections"].add(**difference)
    report.totals.update(
        {
            **{
                f"{name}_committed": len(v.committed) for name, v in sorted(snapshot.topics.items())
            },
            **{f"{name}_aborted": len(aborted[name]) for name in sorted(snapshot.topics)},
            "commands_answered": len(answers.any),
            "submitted_listed": len(snapshot.submitted),
        }
    )
    return report


def aborted_records(view: TopicView) -> list[Record]:
    """Records read_uncommitted shows and read_committed does not, below the last stable offset
    (above it they belong to a transaction still open: :func:`open_records`)."""
    seen = {(r.partition, r.offset) for r in view.committed}
    return [
        r
        for r in view.uncommitted
        if (r.partition, r.offset) not in seen and r.offset < view.stable_ends.get(r.partition, 0)
    ]


class _Answers:
    """Results by command id: every answer, and the first answers (neither replayed nor an
    ``idempotency_key_reused`` refusal) in offset order."""

    def __init__(self, results: Iterable[Parsed]) -> None:
        self.any: dict[str, list[Parsed]] = defaultdict(list)
        self.first: dict[str, list[Parsed]] = defaultdict(list)
        for parsed in results:
            command_id = parsed.get("command_id")
            if not isinstance(command_id, str):
                continue
            self.any[command_id].append(parsed)
            error = parsed.get("error")
            reused = isinstance(error, dict) and error.get("code") == REUSED_KEY
            if not is_replayed(list(parsed.record.headers)) and not reused:
                self.first[command_id].append(parsed)

    def status(self, command_id: Any) -> str | None:
        """The status of the command's first answer (None: not answered)."""
        firsts = self.first.get(command_id) if isinstance(command_id, str) else None
        return firsts[0].get("status") if firsts else None

    def listed(self) -> dict[str, tuple[str, Parsed]]:
        """event id -> (command id, result) for every event an accepted first answer lists."""
        found: dict[str, tuple[str, Parsed]] = {}
        for command_id, firsts in self.first.items():
            if firsts[0].get("status") != "accepted":
                continue
            for event in firsts[0].get("events") or ():
                if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                    found[event["event_id"]] = (command_id, firsts[0])
        return found


def _check_answers(report: CheckReport, snapshot: LogSnapshot, answers: _Answers) -> None:
    finding = report.findings["answers"]
    on_log = {p.get("command_id") for p in map(_parse, snapshot.topic("commands").committed)}
    submitted = (snapshot.submitted | {c for c in on_log if isinstance(c, str)}) - {""}
    for command_id in sorted(submitted - answers.any.keys()):
        finding.add(kind="unanswered", command_id=command_id)
    for command_id, firsts in answers.first.items():
        if len(firsts) > 1:
            differ = len({json.dumps(p.value, sort_keys=True) for p in firsts}) > 1
            finding.add(
                kind="several_first_answers",
                command_id=command_id,
                answers=len(firsts),
                different=differ,
                positions=[p.where() for p in firsts[:3]],
            )


def _check_events(
    report: CheckReport, answers: _Answers, events: list[Parsed], uncommitted_ids: set[Any]
) -> None:
    """Class 2 (missing or doubled), and torn cycles: listed events only read_uncommitted sees."""
    copies = Counter(p.get("event_id") for p in events)
    first_at: dict[Any, Parsed] = {}
    for parsed in events:
        first_at.setdefault(parsed.get("event_id"), parsed)
    doubled, torn = report.findings["events_per_result"], report.findings["torn_transaction"]
    for event_id, (command_id, result) in sorted(answers.listed().items()):
        if copies[event_id] == 0:
            what = {"event_id": event_id, "command_id": command_id, "result": result.where()}
            if event_id in uncommitted_ids:
                torn.add(kind="result_without_event", **what)
            else:
                doubled.add(kind="missing", **what)
    for event_id, count in sorted(copies.items(), key=lambda item: str(item[0])):
        if event_id is not None and count > 1:
            at = first_at[event_id]
            doubled.add(kind="doubled", event_id=event_id, copies=count, **at.where())


def _check_aborted_reads(
    report: CheckReport, answers: _Answers, events: list[Parsed], aborted: list[Parsed]
) -> None:
    """A committed event of a rejected command, or identical to an aborted one and not the
    committed retry (an accepted first answer lists it)."""
    finding = report.findings["aborted_read"]
    listed = answers.listed()
    aborted_ids = {p.get("event_id") for p in aborted} - {None}
    for parsed in events:
        event_id, command_id = parsed.get("event_id"), parsed.get("command_id")
        what = {"event_id": event_id, "command_id": command_id, **parsed.where()}
        if answers.status(command_id) == "rejected":
            finding.add(kind="event_of_rejected_command", **what)
        elif event_id in aborted_ids and event_id not in listed:
            finding.add(kind="event_of_aborted_transaction", **what)


def _check_events_without_result(
    report: CheckReport, answers: _Answers, events: list[Parsed]
) -> None:
    finding = report.findings["torn_transaction"]
    for parsed in events:
        command_id = parsed.get("command_id")
        if isinstance(command_id, str) and command_id not in answers.any:
            finding.add(
                kind="event_without_result",
                event_id=parsed.get("event_id"),
                command_id=command_id,
                **parsed.where(),
            )


def _check_chains_and_index(report: CheckReport, snapshot: LogSnapshot) -> None:
    """Classes 5 and 6 by the audit's own checks, partition by partition."""
    view = snapshot.topic("events")
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in view.committed:
        by_partition[record.partition].append(record)
    tally = Tally(max_listed=10_000)
    for partition in sorted(set(by_partition) | set(snapshot.index_rows)):
        audit_partition(
            tally,
            partition,
            (LogRecord(r.partition, r.offset, r.key, r.value) for r in by_partition[partition]),
            snapshot.index_rows.get(partition, []),
            partitions=snapshot.partitions,
            indexed_up_to=snapshot.indexed_up_to.get(partition, 0),
            key=snapshot.audit_key,
        )
    for failure in tally.failures:
        name = "index" if failure.check == "index" else "versions"
        report.findings[name].add(
            check=failure.check,
            aggregate_id=failure.aggregate_id,
            version=failure.version,
            partition=failure.partition,
            offset=failure.offset,
            reason=failure.reason,
        )
    report.findings["versions"].count += tally.failures_total - len(tally.failures)  # unlisted
    report.totals["events_unindexed"] = tally.unindexed


def _check_open_transactions(report: CheckReport, snapshot: LogSnapshot) -> None:
    finding = report.findings["open_transaction"]
    for name, view in sorted(snapshot.topics.items()):
        for partition, high in sorted(view.high_ends.items()):
            stable = view.stable_ends.get(partition, 0)
            if stable < high:
                finding.add(topic=name, partition=partition, stable_offset=stable, high=high)


def _check_root_cause_links(report: CheckReport, events: list[Parsed]) -> None:
    attached: set[tuple[str, str]] = set()  # (root cause id, case id)
    undone: set[tuple[str, str]] = set()  # (case id, root cause id)
    links: list[tuple[str, str, Parsed]] = []
    for parsed in events:
        payload = parsed.get("payload")
        aggregate_id = str(parsed.get("aggregate_id"))
        if not isinstance(payload, dict):
            continue
        kind = parsed.get("type")
        if kind == "CaseAttached":
            attached.add((aggregate_id, str(payload.get("case_id"))))
        elif kind == "RootCauseLinkUndone":
            undone.add((aggregate_id, str(payload.get("root_cause_id"))))
        elif kind == "RootCauseLinked":
            links.append((aggregate_id, str(payload.get("root_cause_id")), parsed))
    finding = report.findings["root_cause_link"]
    for case_id, root_cause_id, parsed in links:
        if (root_cause_id, case_id) not in attached and (case_id, root_cause_id) not in undone:
            finding.add(
                case_id=case_id,
                root_cause_id=root_cause_id,
                event_id=parsed.get("event_id"),
                **parsed.where(),
            )


def _parse(record: Record) -> Parsed:
    try:
        value = json.loads(record.value) if record.value is not None else None
    except (UnicodeDecodeError, ValueError):
        value = None
    return Parsed(record, value if isinstance(value, dict) else None)
