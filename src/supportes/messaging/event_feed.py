"""The events log as an incremental feed: committed events after per-partition positions.

A position is the next offset to read of a partition. A page takes partitions in order, each
from its position up to the end offset as it was when the page began, until ``limit`` events;
``end_of_stream`` says every partition was read to that end. Paging from all-zero positions
yields every committed event exactly once (offsets skipped by read_committed are transaction
markers and aborted records, never events).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

PAGE_BUDGET_S = 5.0
"""Longest a page reads; then it ends early (``end_of_stream`` false, positions exact), so a
slow broker gives a short page instead of a hung request."""


@dataclass(frozen=True)
class FeedItem:
    """One committed event with its place in the log."""

    partition: int
    offset: int
    event: Any


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed and the positions after it."""

    items: list[FeedItem]
    positions: dict[int, int]
    end_of_stream: bool


def _decode(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        try:
            return json.loads(value.decode("utf-8", "surrogatepass"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {"undecodable": value.hex()}


def read_page(reader: KafkaConsumer, topic: str, positions: dict[int, int], limit: int) -> FeedPage:
    """The next page of ``topic`` for a group-less read_committed ``reader``."""
    partitions = sorted(reader.partitions_for_topic(topic) or ())
    tps = [TopicPartition(topic, p) for p in partitions]
    reader.assign(tps)
    ends = reader.end_offsets(tps)
    after = {p: max(0, int(positions.get(p, 0))) for p in partitions}
    items: list[FeedItem] = []
    deadline = time.monotonic() + PAGE_BUDGET_S
    for tp in tps:
        end = ends[tp]
        position = after[tp.partition]
        if position >= end or len(items) >= limit or time.monotonic() > deadline:
            continue
        reader.seek(tp, position)
        reader.pause(*[other for other in tps if other != tp])
        reader.resume(tp)
        while len(items) < limit and position < end and time.monotonic() < deadline:
            polled = reader.poll(timeout_ms=200, max_records=limit - len(items)).get(tp, [])
            for record in polled:
                if record.offset >= end or len(items) >= limit:
                    break
                items.append(FeedItem(tp.partition, record.offset, _decode(record.value)))
                position = record.offset + 1
            if len(items) < limit:  # past markers and aborted records: no event skipped
                position = max(position, min(reader.position(tp), end))
        after[tp.partition] = position
    done = all(after[tp.partition] >= ends[tp] for tp in tps)
    return FeedPage(items, after, done)
