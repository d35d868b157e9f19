"""One lane's transaction in a writer cycle: the consumed offsets added to it without waiting,
and the commit once the batch is decided; with the test seams around both."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from supportes.consumers.ownership import Lane
from supportes.consumers.writer_state import CALL_TIMEOUT_S, PartitionState, Taken
from supportes.logs import get_logger
from supportes.messaging import transactions
from supportes.messaging.transactions import PendingCall

log = get_logger("writer")


@dataclass
class WriterHooks:
    """Test seams: called per partition where a crash or a zombie is most interesting."""

    before_send_offsets: Callable[[int], None] = lambda partition: None
    before_commit: Callable[[int], None] = lambda partition: None
    after_commit: Callable[[int], None] = lambda partition: None


def send_offsets(
    lane: Lane, items: list[Taken], metadata: Any, *, commands_topic: str, hooks: WriterHooks
) -> PendingCall:
    """Add the consumed offsets of every partition of the lane to its transaction without
    waiting: the producer's network thread makes the round trips to the transaction and
    group coordinators while the batch is decided; :func:`commit` waits for them."""
    offsets = {
        TopicPartition(commands_topic, state.number): OffsetAndMetadata(
            records[-1].offset + 1, "", -1
        )
        for state, records, _ in items
    }
    for state, _, _ in items:
        hooks.before_send_offsets(state.number)
    return transactions.start_send_offsets(
        lane.producer, offsets, metadata, timeout_s=CALL_TIMEOUT_S
    )


class CommitNotTrustedError(Exception):
    """The producer reported the commit, but not of the transaction the batch was sent in: its
    epoch changed in between, or a record of the batch failed. What is on the log is unknown."""


def commit(
    lane: Lane, items: list[Taken], offsets_sent: PendingCall, *, hooks: WriterHooks
) -> BaseException | None:
    """Wait for the lane's offsets to be in its transaction and commit; return the failure
    if any (:class:`CommitNotTrustedError` when the commit cannot be taken at its word)."""
    try:
        offsets_sent.wait(CALL_TIMEOUT_S)
        for state, _, _ in items:
            hooks.before_commit(state.number)
        transactions.commit(lane.producer, timeout_s=CALL_TIMEOUT_S)
        lane.in_transaction = False
    except Exception as exc:
        return exc
    return distrusted(lane, items)


def distrusted(lane: Lane, items: list[Taken]) -> CommitNotTrustedError | None:
    """Why a commit the producer reported is not to be believed, or None: the producer's id
    or epoch is not the one the transaction began with, or a record sent in it failed."""
    now = transactions.producer_epoch(lane.producer)
    if now != lane.began_with:
        return CommitNotTrustedError(
            f"the producer's id and epoch changed inside the transaction ({lane.began_with} to"
            f" {now}): the broker aborted what the commit reports"
        )
    for state, _, _ in items:
        batch = state.batch
        assert batch is not None
        for future in (*batch.event_futures, *batch.result_futures):
            if future.is_done and future.failed():
                return CommitNotTrustedError(
                    f"a record of the committed transaction failed:"
                    f" {type(future.exception).__name__}"
                )
    return None


def failure_of(call: PendingCall | None) -> BaseException | None:
    """What a started call failed with, once it has ended (None if it succeeded or never
    started)."""
    return None if call is None else call.outcome(CALL_TIMEOUT_S)


def committed_batch(state: PartitionState, began: float, hooks: WriterHooks) -> int:
    """Close the partition's committed batch and log it; return its record count."""
    batch = state.batch
    assert batch is not None
    state.batch = None
    state.recorder.end_transaction(committed=True)
    hooks.after_commit(state.number)
    stats = batch.stats
    log.info(
        "batch committed",
        partition=state.number,
        first_offset=batch.first_offset,
        last_offset=batch.last_offset,
        commands=stats.commands,
        events=stats.events,
        rejected=stats.rejected,
        duplicates=stats.duplicates,
        dead_letters=stats.dead_letters,
        follow_ons=stats.follow_ons,
        duration_ms=round((time.monotonic() - began) * 1000, 1),
    )
    return batch.last_offset - batch.first_offset + 1
