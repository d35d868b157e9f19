"""What the checker reads (records of both isolation levels, index rows, offsets) and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supportes.ops.audit_checks import IndexRow

CLASSES = (
    "answers",
    "events_per_result",
    "aborted_read",
    "torn_transaction",
    "versions",
    "index",
    "projections",
    "open_transaction",
    "root_cause_link",
)
"""Anomaly classes, in the order of issue 17 item 4 (1..9)."""

TITLES = {
    "answers": "command answered zero times or with several first answers",
    "events_per_result": "accepted command's events missing or doubled",
    "aborted_read": "aborted or rejected data visible to read_committed",
    "torn_transaction": "transaction partly visible under read_committed",
    "versions": "per-aggregate versions or hash chain broken",
    "index": "event index differs from the committed log",
    "projections": "projection differs from a fresh rebuild",
    "open_transaction": "transaction left open (last stable offset < high watermark)",
    "root_cause_link": "RootCauseLinked without CaseAttached or RootCauseLinkUndone",
}
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Record:
    """One record of a topic as a consumer saw it (``headers`` as kafka-python gives them)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class TopicView:
    """A topic read to its end twice: read_committed and read_uncommitted (offset order)."""

    committed: list[Record] = field(default_factory=list)
    uncommitted: list[Record] = field(default_factory=list)
    stable_ends: dict[int, int] = field(default_factory=dict)  # last stable offset per partition
    high_ends: dict[int, int] = field(default_factory=dict)  # high watermark per partition


@dataclass(frozen=True)
class LogSnapshot:
    """Everything the pure checks look at. ``topics`` by short name (commands, events,
    results, ...); ``index_rows`` per events partition in offset order; ``indexed_up_to`` is
    ``event_index.log_positions``; ``submitted`` the command ids a workload says it sent."""

    topics: dict[str, TopicView]
    partitions: int
    index_rows: dict[int, list[IndexRow]] = field(default_factory=dict)
    indexed_up_to: dict[int, int] = field(default_factory=dict)
    submitted: frozenset[str] = frozenset()
    audit_key: bytes | None = None
    projection_differences: list[dict[str, Any]] = field(default_factory=list)

    def topic(self, name: str) -> TopicView:
        """The view of ``name`` (empty when it was not read)."""
        return self.topics.get(name) or TopicView()


@dataclass
class Finding:
    """One anomaly class: how many, and the first few examples (ids and positions only)."""

    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **example: Any) -> None:
        """Count one anomaly; keep it as an example while there are fewer than MAX_EXAMPLES."""
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


@dataclass
class CheckReport:
    """Counts per anomaly class (every class present), with examples, plus what was read."""

    findings: dict[str, Finding] = field(default_factory=lambda: {c: Finding() for c in CLASSES})
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every count is 0."""
        return all(f.count == 0 for f in self.findings.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``faults check --json``)."""
        return {
            "ok": self.ok,
            "anomalies": {
                name: {"title": TITLES[name], "count": f.count, "examples": f.examples}
                for name, f in self.findings.items()
            },
            "totals": self.totals,
        }
