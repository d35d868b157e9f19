"""Adding a decided command's records to its partition's share of the transaction: results
(first answers indexed with their digest, resubmissions answered again) and dead letters."""

from __future__ import annotations

from typing import Any

from kafka.consumer.fetcher import ConsumerRecord

from supportes import fastjson
from supportes.consumers.records import (
    DIGEST_HEADER,
    REPLAYED_HEADER_ITEM,
    Incoming,
    reused_key_result,
)
from supportes.consumers.writer_state import PartitionState
from supportes.eventstore.index import Answer
from supportes.logs import get_logger
from supportes.messaging.dead_letters import dead_letter_headers, dead_letter_value

log = get_logger("writer")


def add_result(
    state: PartitionState,
    key: bytes | None,
    result: dict[str, Any],
    *,
    record: bool = True,
    digest: str | None = None,
    replayed: bool = False,
) -> None:
    """Add ``result`` to the transaction; with ``record``, as the command's first answer
    (indexed with ``digest``, which also rides in a header for a later catch-up); with
    ``replayed``, as the first answer again for a resubmitted command (a header says so)."""
    batch = state.batch
    assert batch is not None
    headers = [REPLAYED_HEADER_ITEM] if replayed else None
    if record and result.get("command_id"):
        batch.answered[result["command_id"]] = Answer(result, digest)
        batch.to_index.append((len(batch.result_records), result, digest))
        headers = [(DIGEST_HEADER, digest.encode())] if digest else None
    if batch.writer is not None:  # the transaction's first result on this partition
        headers = [*(headers or ()), batch.writer]
        batch.writer = None
    batch.result_records.append(
        (key or (result.get("aggregate_id") or "").encode(), fastjson.dumps(result), headers)
    )


def answer_again(
    state: PartitionState, record: ConsumerRecord, parsed: Incoming, first: Answer
) -> bool:
    """A command id answered before: its first result again (replayed, True), or, when the same
    id comes with another command (digests differ), ``idempotency_key_reused`` (False)."""
    batch = state.batch
    assert batch is not None
    assert parsed.command_id is not None
    if first.digest is None or parsed.digest in (None, first.digest):
        batch.stats.duplicates += 1
        add_result(state, record.key, first.result, record=False, replayed=True)
        return True
    # the same idempotency key for another command: refuse, keep the first
    batch.stats.rejected += 1
    add_result(state, record.key, reused_key_result(parsed.command_id, parsed), record=False)
    return False


def add_dead_letter(state: PartitionState, record: ConsumerRecord, reason: str) -> None:
    """Put ``record`` on the dead-letter topic in this transaction, with ``reason``."""
    assert state.batch is not None
    state.batch.stats.dead_letters += 1
    state.batch.dead_letters.append(
        (record.key, dead_letter_value(record), dead_letter_headers(record, reason))
    )
    log.warning(
        "command dead-lettered",
        partition=state.number,
        offset=record.offset,
        dead_letter_reason=reason,  # names the rule and field, never a value
    )
