"""A writer's output, built by hand: cycles of command, events and result records on
partitions of both isolation views, with the index rows the writer would store."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from supportes.aggregates.hashchain import seal
from supportes.aggregates.wire import BY_NAME, event_id_text
from supportes.consumers.records import DIGEST_HEADER, REPLAYED_HEADER_ITEM
from supportes.faults.model import LogSnapshot, Record, TopicView
from supportes.messaging.routing import key_of, partition_for
from supportes.ops.audit_checks import IndexRow

PARTITIONS = 2
TOPICS = ("commands", "events", "results", "dead-letters")
_COLUMNS = ("aggregate_id", "version", "aggregate_type", "event_id", "type", "command_id", "hash")


@dataclass
class _View:
    committed: list[Record] = field(default_factory=list)
    uncommitted: list[Record] = field(default_factory=list)
    next_offset: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(PARTITIONS), 0))
    open_from: dict[int, int] = field(default_factory=dict)


@dataclass
class LogBuilder:
    """Append cycles; :meth:`snapshot` gives what the checker reads."""

    views: dict[str, _View] = field(default_factory=lambda: {t: _View() for t in TOPICS})
    chains: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    index: dict[int, list[IndexRow]] = field(default_factory=dict)
    submitted: set[str] = field(default_factory=set)

    def put(
        self, topic: str, partition: int, key: bytes, value: Any, *, visible: bool, headers=()
    ) -> Record:
        """One record at the next offset; ``visible``: read_committed sees it too."""
        view = self.views[topic]
        body = value if isinstance(value, bytes) else json.dumps(value).encode()
        record = Record(partition, view.next_offset[partition], key, body, tuple(headers))
        view.next_offset[partition] += 1
        view.uncommitted.append(record)
        if visible:
            view.committed.append(record)
        return record

    def marker(self, *topics: str, open_: bool = False) -> None:
        """A transaction marker after a cycle on every partition of ``topics`` (it takes an
        offset; read by neither view); ``open_``: no marker, the transaction stays open."""
        for topic in topics:
            view = self.views[topic]
            for partition in range(PARTITIONS):
                if not open_:
                    view.next_offset[partition] += 1

    def envelope(
        self, aggregate_id: str, type_: str, payload: dict[str, Any], command_id: str, version: int
    ) -> dict[str, Any]:
        registered = BY_NAME[type_]
        prev = self.chains.get(aggregate_id, (0, None))[1]
        return seal(
            {
                "event_id": event_id_text(uuid.UUID(command_id), aggregate_id, version),
                "type": type_,
                "schema_version": registered.schema_version,
                "aggregate_type": registered.aggregate_class.aggregate_type,
                "aggregate_id": aggregate_id,
                "version": version,
                "occurred_at": "2026-11-22T10:00:00Z",
                "actor": {"id": "agent:maria", "kind": "agent"},
                "command_id": command_id,
                "correlation_id": command_id,
                "payload": payload,
                "prev_hash": prev,
            }
        )

    def cycle(
        self,
        aggregate_id: str,
        events: list[tuple[str, dict[str, Any]]],
        *,
        status: str = "accepted",
        command_id: str | None = None,
        versions: list[int] | None = None,
        commit: bool = True,
        hide: str | None = None,
        open_: bool = False,
        index: bool = True,
    ) -> tuple[str, list[dict[str, Any]]]:
        """A command, its events and its result in one transaction. ``hide``: "events" or
        "result" keeps that part out of read_committed (a torn cycle); ``commit=False``
        aborts it; ``open_`` leaves it open."""
        command_id = command_id or str(uuid.uuid4())
        self.submitted.add(command_id)
        p = partition_for(aggregate_id, PARTITIONS)
        key = key_of(aggregate_id)
        visible = commit and not open_
        if open_:
            for topic in ("events", "results"):
                view = self.views[topic]
                view.open_from.setdefault(p, view.next_offset[p])
        self.put("commands", p, key, {"command_id": command_id}, visible=True)
        last = self.chains.get(aggregate_id, (0, None))[0]
        numbers = versions or list(range(last + 1, last + 1 + len(events)))
        envelopes = []
        for (type_, payload), version in zip(events, numbers, strict=True):
            envelope = self.envelope(aggregate_id, type_, payload, command_id, version)
            record = self.put("events", p, key, envelope, visible=visible and hide != "events")
            envelopes.append(envelope)
            if visible:
                self.chains[aggregate_id] = (version, envelope["hash"])
                if index:
                    self.index_row(record, envelope)
        result = {
            "command_id": command_id,
            "status": status,
            "aggregate_id": aggregate_id,
            "version": numbers[-1] if numbers else last,
            "events": [
                {"event_id": e["event_id"], "type": e["type"], "version": e["version"]}
                for e in envelopes
            ]
            if status == "accepted"
            else [],
            "error": None if status == "accepted" else {"code": "not_found", "message": "x"},
        }
        headers = [(DIGEST_HEADER, b"d" * 64)]
        self.put("results", p, key, result, visible=visible and hide != "result", headers=headers)
        self.marker("events", "results", open_=open_)
        return command_id, envelopes

    def replay(self, command_id: str) -> None:
        """The first answer of ``command_id`` again, marked replayed."""
        first = next(r for r in self.views["results"].committed if command_id.encode() in r.value)
        self.put(
            "results",
            first.partition,
            first.key,
            first.value,
            visible=True,
            headers=[REPLAYED_HEADER_ITEM],
        )

    def index_row(self, record: Record, envelope: dict[str, Any]) -> None:
        columns = {c: envelope[c] if c == "version" else str(envelope[c]) for c in _COLUMNS}
        rows = self.index.setdefault(record.partition, [])
        rows.append(IndexRow(record.partition, record.offset, columns, copy.deepcopy(envelope)))

    def snapshot(self, **extra: Any) -> LogSnapshot:
        topics = {}
        for name, view in self.views.items():
            high = dict(view.next_offset)
            stable = {p: view.open_from.get(p, high[p]) for p in high}
            topics[name] = TopicView(list(view.committed), list(view.uncommitted), stable, high)
        positions = {p: self.views["events"].next_offset[p] for p in range(PARTITIONS)}
        options: dict[str, Any] = {
            "topics": topics,
            "partitions": PARTITIONS,
            "index_rows": {p: list(rows) for p, rows in self.index.items()},
            "indexed_up_to": positions,
            "submitted": frozenset(self.submitted),
        }
        options.update(extra)
        return LogSnapshot(**options)
