"""What the writer's polling thread reads from the index before deciding a cycle, and the
idempotency window it keeps there: the earlier results of the cycle's command ids, the
aggregates its commands touch, and which of their customers were erased; command ids older
than the window are forgotten."""

from __future__ import annotations

from datetime import timedelta

import psycopg2

from supportes.aggregates import rebuild
from supportes.aggregates.data_subject import subject_of_command
from supportes.consumers.records import Incoming
from supportes.consumers.writer_index import CommitIndexer
from supportes.consumers.writer_state import PartitionState, first_line
from supportes.eventstore.index import EventIndex
from supportes.logs import get_logger

log = get_logger("writer")

IDEMPOTENCY_WINDOW = timedelta(days=8)  # the commands topic keeps 7 days; one day of margin


def prefetch(
    index: EventIndex,
    indexer: CommitIndexer,
    batches: list[tuple[PartitionState, list[Incoming]]],
) -> None:
    """Load what this poll's batches need in two queries for all partitions together:
    earlier results of their command ids, and every aggregate they touch that is not
    cached (one round trip per query, not per partition: latency is what it costs).

    Results of the cycle whose index write is still in flight (``indexer``) count as earlier
    results too."""
    if not batches:
        return
    wanted = {
        p.command.aggregate_id: state
        for state, incoming in batches
        for p in incoming
        if p.command is not None and p.command.aggregate_id not in state.cache
    }
    unindexed = indexer.unindexed()
    if any(aggregate_id in b.touched for b in unindexed for aggregate_id in wanted):
        indexer.await_index()  # left the cache before its events reached the index (rare)
        unindexed = []
    command_ids = {
        p.command_id for _, incoming in batches for p in incoming if p.command_id is not None
    }
    answered = index.answers(command_ids)
    for earlier in unindexed:  # answered in the cycle whose index write is in flight
        answered.update({c: earlier.answered[c] for c in command_ids & earlier.answered.keys()})
    found = index.envelopes_of(wanted)
    for state, incoming in batches:
        assert state.batch is not None
        state.batch.answered.update(
            {p.command_id: answered[p.command_id] for p in incoming if p.command_id in answered}
        )
    for aggregate_id, state in wanted.items():
        envelopes = found.get(aggregate_id, [])
        aggregate = rebuild(envelopes) if envelopes else None
        state.recorder.remember(aggregate_id, aggregate.version if aggregate else 0)
        if aggregate is not None:
            state.cache_put(aggregate_id, aggregate)
    erased = frozenset(index.erased_subjects(_subjects(batches)))
    for state, _ in batches:
        assert state.batch is not None
        state.batch.erased_subjects = erased


def _subjects(batches: list[tuple[PartitionState, list[Incoming]]]) -> set[str]:
    """The customers whose personal data the cycle's commands carry (as far as known before
    deciding: an ``OpenCase``'s, or its case's)."""
    found: set[str] = set()
    for state, incoming in batches:
        for parsed in incoming:
            if parsed.command is not None:
                current = state.cache.get(parsed.command.aggregate_id)
                subject = subject_of_command(parsed.command, current)
                if subject is not None:
                    found.add(subject)
    return found


def prune_processed(index: EventIndex) -> None:
    """Forget command ids older than the commands topic keeps commands (idempotency window)."""
    try:
        pruned = index.prune_processed(IDEMPOTENCY_WINDOW)
    except psycopg2.Error as exc:
        log.warning("pruning processed commands failed", error=first_line(exc))
        index.reconnect()
        return
    if pruned:
        log.info("pruned processed commands", count=pruned)
