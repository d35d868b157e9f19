"""The checks behind ``supportes audit verify``, pure: log records and index rows in, failures out.

One partition at a time: its log records in offset order are merged with its index rows in
offset order. Every record must be a readable envelope keyed and routed by its aggregate id
(check ``log``); each aggregate's versions run 1..n (``versions``) and its hashes chain
(``hash_chain``, with the audit key when one is configured); every log event has an identical
index row at the same partition and offset, and every index row is on the log (``index``).

Log events past the index's recorded position (``event_index.log_positions``) are *unindexed*:
the writer indexes after each Kafka commit, so a live index may trail the log. They are counted,
not failed. After a versions or hash_chain failure the aggregate's later events are not
chain-checked (one chain failure per aggregate; its index rows are still compared).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from supportes.aggregates.errors import EnvelopeError
from supportes.aggregates.hashchain import hash_problem, holds_float, version_problem
from supportes.aggregates.wire import current_envelope
from supportes.messaging.routing import partition_for

CHECKS = ("log", "versions", "hash_chain", "index")
TITLES = {
    "log": "unusable log record",
    "versions": "version continuity broken",
    "hash_chain": "hash chain broken",
    "index": "index differs from the log",
}
LABELS = {"Case": "case", "RootCause": "root cause", "DataSubject": "data subject"}
# Index columns that repeat an envelope field.
_COLUMNS = ("aggregate_id", "version", "aggregate_type", "event_id", "type", "command_id", "hash")


@dataclass(frozen=True)
class Failure:
    """One failed check, at a log position (an index row's position for rows not on the log)."""

    check: str
    aggregate_type: str | None
    aggregate_id: str | None
    version: int | None
    partition: int
    offset: int
    reason: str

    @property
    def position(self) -> tuple[int, int, int]:
        """Sort key: log position, then check order (``first`` is the lowest)."""
        return (self.partition, self.offset, CHECKS.index(self.check))

    def describe(self) -> str:
        """One line naming the aggregate, version, check, reason and position."""
        what = f"{TITLES[self.check]} ({self.reason})"
        where = f"partition {self.partition} offset {self.offset}"
        if self.aggregate_id is None:
            return f"{where}: {what}"
        label = LABELS.get(self.aggregate_type or "", "aggregate")
        version = "?" if self.version is None else str(self.version)
        return f"{label} {self.aggregate_id} version {version}: {what} at {where}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "check": self.check,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class LogRecord:
    """A committed record of the events topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class IndexRow:
    """A row of ``event_index.events`` (columns by name, ``envelope`` decoded).

    ``columns_agree`` says PostgreSQL found every column equal to the row's own envelope
    (``columns`` may then be empty); ``text`` is the envelope's JSON text when ``envelope`` was
    decoded by the fast decoder, for an exact re-read where that one could differ.
    """

    partition: int
    offset: int
    columns: Mapping[str, Any]
    envelope: Any
    columns_agree: bool = False
    text: str | None = None


@dataclass
class CheckCount:
    """How many items a check looked at and how many failed."""

    checked: int = 0
    failed: int = 0


@dataclass
class _Chain:
    aggregate_type: str
    version: int = 0
    hash: str | None = None
    broken: bool = False


@dataclass
class Tally:
    """Running totals over the partitions audited so far."""

    checks: dict[str, CheckCount] = field(default_factory=lambda: {c: CheckCount() for c in CHECKS})
    aggregates: dict[str, str] = field(default_factory=dict)  # id -> aggregate type
    events: int = 0
    index_rows: int = 0
    unindexed: int = 0
    failures: list[Failure] = field(default_factory=list)
    failures_total: int = 0
    max_listed: int = 100

    def absorb(self, later: Tally) -> None:
        """Add the totals of partitions checked after these (as if checked here, in turn)."""
        for name, count in later.checks.items():
            self.checks[name].checked += count.checked
            self.checks[name].failed += count.failed
        for aggregate_id, aggregate_type in later.aggregates.items():
            self.aggregates.setdefault(aggregate_id, aggregate_type)
        self.events += later.events
        self.index_rows += later.index_rows
        self.unindexed += later.unindexed
        room = max(0, self.max_listed - len(self.failures))
        self.failures.extend(later.failures[:room])
        self.failures_total += later.failures_total

    def fail(self, failure: Failure) -> None:
        """Count a failure; keep the first ``max_listed`` (they arrive in position order)."""
        self.checks[failure.check].failed += 1
        self.failures_total += 1
        if len(self.failures) < self.max_listed:
            self.failures.append(failure)


def audit_partition(
    tally: Tally,
    partition: int,
    records: Iterable[LogRecord],
    rows: Iterable[IndexRow],
    *,
    partitions: int,
    indexed_up_to: int,
    key: bytes | None = None,
    only: str | None = None,
) -> None:
    """Check one partition into ``tally``. ``records`` and ``rows`` must be in offset order;
    ``indexed_up_to`` is the partition's next offset to index; ``only`` keeps one aggregate."""
    audit = _PartitionAudit(
        tally, partition, partitions=partitions, indexed_up_to=indexed_up_to, key=key, only=only
    )
    row_iter: Iterator[IndexRow] = iter(rows)
    row = next(row_iter, None)
    for record in records:
        while row is not None and row.offset < record.offset:
            audit.orphan_row(row)
            row = next(row_iter, None)
        envelope = audit.record(record)
        if envelope is _SKIPPED:
            continue
        if row is not None and row.offset == record.offset:
            audit.compare(record, envelope, row)
            row = next(row_iter, None)
        else:
            audit.no_row(record, envelope)
    while row is not None:
        audit.orphan_row(row)
        row = next(row_iter, None)


_SKIPPED: Any = object()


class _PartitionAudit:
    def __init__(
        self,
        tally: Tally,
        partition: int,
        *,
        partitions: int,
        indexed_up_to: int,
        key: bytes | None,
        only: str | None,
    ) -> None:
        self.tally = tally
        self.partition = partition
        self.partitions = partitions
        self.indexed_up_to = indexed_up_to
        self.key = key
        self.only = only
        self.chains: dict[str, _Chain] = {}
        self.float_free = False  # the last decoded envelope is known to hold no float

    def _failure(
        self, check: str, envelope: Any, offset: int, reason: str, *, row: IndexRow | None = None
    ) -> Failure:
        source = envelope if isinstance(envelope, Mapping) else {}
        if row is not None and not source:
            source = row.columns
            if row.columns_agree and isinstance(row.envelope, Mapping):
                source = row.envelope  # the columns agree with it and were not fetched
        version = source.get("version")
        aggregate_id = source.get("aggregate_id")
        return Failure(
            check,
            _str_or_none(source.get("aggregate_type")),
            None if aggregate_id is None else str(aggregate_id),
            version if isinstance(version, int) and not isinstance(version, bool) else None,
            self.partition,
            offset,
            reason,
        )

    def record(self, record: LogRecord) -> Any:
        """Decode and check one record (log, versions, hash_chain); return its envelope, None
        when unusable, or _SKIPPED when ``only`` filters it out."""
        if self.only is not None and not self._may_concern(record):
            return _SKIPPED
        envelope, problem, self.float_free = _decode_checked(record.value)
        if self.only is not None:
            own = isinstance(envelope, Mapping) and envelope.get("aggregate_id") == self.only
            if not own and record.key != self.only.encode():
                return _SKIPPED
        tally = self.tally
        tally.events += 1
        tally.checks["log"].checked += 1
        if problem is not None:
            failure = self._failure("log", envelope, record.offset, problem)
            if failure.aggregate_id is None and record.key:
                key_id = record.key.decode(errors="replace")
                failure = Failure("log", None, key_id, None, self.partition, record.offset, problem)
            tally.fail(failure)
            return None
        misrouted = self._routing_problem(record, envelope)
        if misrouted is not None:
            tally.fail(self._failure("log", envelope, record.offset, misrouted))
        self._chain(record, envelope)
        return envelope

    def _may_concern(self, record: LogRecord) -> bool:
        assert self.only is not None
        token = self.only.encode()
        return record.key == token or (record.value is not None and token in record.value)

    def _routing_problem(self, record: LogRecord, envelope: Mapping[str, Any]) -> str | None:
        aggregate_id = str(envelope["aggregate_id"])
        if record.key != aggregate_id.encode():
            return f"record key {record.key!r} is not the aggregate id"
        expected = partition_for(aggregate_id, self.partitions)
        if expected != self.partition:
            return f"aggregate belongs on partition {expected}"
        return None

    def _chain(self, record: LogRecord, envelope: Mapping[str, Any]) -> None:
        aggregate_id = str(envelope["aggregate_id"])
        aggregate_type = str(envelope["aggregate_type"])
        chain = self.chains.get(aggregate_id)
        if chain is None:
            chain = self.chains[aggregate_id] = _Chain(aggregate_type)
            self.tally.aggregates.setdefault(aggregate_id, aggregate_type)
        if chain.broken:
            return
        checks = self.tally.checks
        checks["versions"].checked += 1
        problem = version_problem(envelope, chain.version)
        if problem is not None:
            chain.broken = True
            self.tally.fail(self._failure("versions", envelope, record.offset, problem))
            return
        checks["hash_chain"].checked += 1
        problem = hash_problem(envelope, chain.hash, self.key, float_free=self.float_free)
        if problem is not None:
            chain.broken = True
            self.tally.fail(self._failure("hash_chain", envelope, record.offset, problem))
            return
        chain.version = int(envelope["version"])
        chain.hash = str(envelope["hash"])

    def compare(self, record: LogRecord, envelope: Any, row: IndexRow) -> None:
        """A log record and the index row at its offset."""
        self.tally.index_rows += 1
        self.tally.checks["index"].checked += 1
        if envelope is None:
            problem: str | None = "index row for an unusable log record"
        else:
            problem = row_problem(envelope, row, exact_log=self.float_free)
        if problem is not None:
            self.tally.fail(self._failure("index", envelope, record.offset, problem, row=row))

    def no_row(self, record: LogRecord, envelope: Any) -> None:
        """A log record with no index row at its offset."""
        if envelope is None:
            return  # unusable records are never indexed; the log check reported it
        if record.offset >= self.indexed_up_to:
            self.tally.unindexed += 1
            return
        self.tally.checks["index"].checked += 1
        self.tally.fail(
            self._failure("index", envelope, record.offset, "no index row for this log event")
        )

    def orphan_row(self, row: IndexRow) -> None:
        """An index row with no log record at its offset."""
        self.tally.index_rows += 1
        self.tally.checks["index"].checked += 1
        self.tally.fail(
            self._failure("index", None, row.offset, "index row not on the log", row=row)
        )


def differing_fields(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """The top-level fields whose values differ between two envelopes, sorted."""
    return sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))


def row_problem(
    envelope: Mapping[str, Any], row: IndexRow, *, exact_log: bool = False
) -> str | None:
    """How an index row differs from the log envelope at the same position (None: identical).

    ``exact_log`` says the log envelope came from the fast decoder and holds no float.
    """
    stored = _stored_envelope(envelope, row, exact_log)
    if stored != envelope:
        if not isinstance(stored, Mapping):
            return "index envelope is not a JSON object"
        return f"index envelope differs in {', '.join(differing_fields(stored, envelope))}"
    if row.columns_agree:
        return None
    columns = [c for c in _COLUMNS if str(row.columns.get(c)) != str(envelope.get(c))]
    if columns:
        return f"index column {', '.join(columns)} differs from the envelope"
    return None


# orjson reads an integer below -2**63 as a float, and the floats just below it round to
# -2**63 itself: equal to a log integer of -2**63 where the exact value is not.
_ROUNDS_TO_AN_INT64 = "-922337203685477"


def _stored_envelope(envelope: Mapping[str, Any], row: IndexRow, exact_log: bool) -> Any:
    """The index row's envelope as the standard library would read it from its text.

    The fast decoder's reading is kept when it cannot differ from that: the log envelope is
    float-free and equal to it (a float standing for an integer beyond 64 bits can equal no
    64-bit integer, but for the one corner above). Any other case is re-read exactly.
    """
    stored = row.envelope
    if row.text is None:
        return stored
    if exact_log and stored == envelope and _ROUNDS_TO_AN_INT64 not in row.text:
        return stored
    try:
        return json.loads(row.text)
    except json.JSONDecodeError:
        return stored  # jsonb's own text: unreachable, but never worse than the fast reading


def _decode(value: bytes | None) -> tuple[Any, str | None]:
    """The raw (stored, not upcast) envelope and why it is unusable (None when usable)."""
    envelope, problem, _ = _decode_checked(value)
    return envelope, problem


def _decode_checked(value: bytes | None) -> tuple[Any, str | None, bool]:
    """:func:`_decode`, and whether the envelope is known to hold no float."""
    if value is None:
        return None, "empty record", False
    try:
        envelope = orjson.loads(value)
        # orjson reads integers beyond 64 bits as floats; no event holds a float, so the
        # standard library re-reads any envelope with one and has the last word, as before.
        fast = not holds_float(envelope)
    except orjson.JSONDecodeError:  # lone surrogate escapes, NaN: the standard library decides
        fast = False
    if not fast:
        try:
            envelope = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"not JSON: {exc}", False
    try:
        current_envelope(envelope)
    except EnvelopeError as exc:
        return envelope, f"not an event envelope: {exc}", False
    return envelope, None, fast


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
