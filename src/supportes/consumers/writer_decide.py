"""Deciding a partition's polled commands into its lane's open transaction.

For each record: a command id already answered in this cycle or before gets its first answer
again; an unreadable record goes to the dead-letter topic (with a rejected result when it names
a command id); a command is checked against the clock and erasure, decided on the cached
aggregate, and its events, result and follow-on (or compensating) commands are added to the
partition's batch; a bug while deciding parks the record as a dead letter and the partition goes
on. The batch's records are then handed to the producer a topic at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import StoredEvent
from kafka.consumer.fetcher import ConsumerRecord

from supportes import fastjson
from supportes.aggregates import Rejection, compensations, decide, last_hash_of
from supportes.aggregates.clock import check_issued_at
from supportes.aggregates.data_subject import refuse_personal_data_of_erased
from supportes.aggregates.dispatch import accepted_result, rejected_result
from supportes.aggregates.errors import ErrorCode
from supportes.consumers.ownership import Lane
from supportes.consumers.records import Incoming, writer_header
from supportes.consumers.writer_records import add_dead_letter, add_result, answer_again
from supportes.consumers.writer_state import PartitionState, Taken
from supportes.eventstore.recorder import to_stored_event
from supportes.logs import get_logger
from supportes.messaging.bulk_send import send_many
from supportes.settings import Settings

log = get_logger("writer")

ACCEPTED, REJECTED, DUPLICATE, DEAD_LETTERED = "accepted", "rejected", "duplicate", "dead_lettered"
"""The outcomes a command is counted under (``supportes_commands_total{outcome}``)."""
UNKNOWN_TYPE = "unknown"
"""The type counted for a record that is not a readable command (a bounded label)."""
INTERNAL_ERROR = "internal_error"
"""The code counted for a command parked because deciding it failed (a bug)."""


class CommandDecider:
    """Decides commands into the open transaction of the partitions in ``partitions``."""

    def __init__(
        self, settings: Settings, partitions: Mapping[int, PartitionState], *, count: bool = True
    ) -> None:
        self.partitions = partitions
        self.count = count
        """Whether each command's outcome and timestamp are kept for the metrics."""
        self.commands_topic = settings.topic("commands")
        self.events_topic = settings.topic("events")
        self.results_topic = settings.topic("results")
        self.dead_letters_topic = settings.topic("dead-letters")
        self.audit_key = (
            settings.audit_key.get_secret_value().encode() if settings.audit_key else None
        )
        self.max_clock_skew = settings.max_clock_skew

    def decide(self, lane: Lane, items: list[Taken], generation: int) -> None:
        """Decide each partition's records into the lane's open transaction, then flush them;
        each partition's first result carries the writer's mark
        (:data:`~supportes.consumers.records.WRITER_HEADER`)."""
        mark = writer_header(lane.transactional_id, generation, lane.began_with)
        for state, records, incoming in items:
            assert state.batch is not None
            state.batch.writer = mark
            if self.count:
                state.batch.stats.submitted_ms.extend([r.timestamp for r in records])
            for record, parsed in zip(records, incoming, strict=True):
                self._handle(state, record, parsed)
            self._flush(state)

    def _handle(self, state: PartitionState, record: ConsumerRecord, parsed: Incoming) -> None:
        batch = state.batch
        assert batch is not None
        stats = batch.stats
        stats.commands += 1
        command_id = parsed.command_id
        command = parsed.command
        kind = command.type if command is not None else UNKNOWN_TYPE
        if command_id is not None and command_id in batch.answered:
            self._answer_again(state, record, parsed, kind)
            return
        if parsed.reason is not None:
            add_dead_letter(state, record, parsed.reason)
        if command is None:
            self._unreadable(state, record, parsed, kind)
            return
        current = state.cache.get(command.aggregate_id)
        try:
            check_issued_at(command.issued_at, now=batch.now, max_skew=self.max_clock_skew)
            refuse_personal_data_of_erased(command, current, batch.erased_subjects)
            decision = decide(
                command, current, last_hash=last_hash_of(current), audit_key=self.audit_key
            )
        except Rejection as rejection:
            stats.rejected += 1
            if self.count:
                stats.count(kind, REJECTED, rejection.code.value)
            version = current.version if current is not None else 0
            result = rejected_result(command.command_id, command.aggregate_id, version, rejection)
            add_result(state, record.key, result, digest=parsed.digest)
            self._send_follow_ons(state, compensations(command, rejection))
            log.debug(
                "command rejected",
                case_id=str(command.aggregate_id),
                command_id=command_id,
                partition=state.number,
                offset=record.offset,
                code=rejection.code.value,
            )
            return
        except Exception as exc:  # a bug, not bad data: park it, keep the partition going
            log.exception(
                "deciding failed",
                case_id=str(command.aggregate_id),
                command_id=command_id,
                partition=state.number,
                offset=record.offset,
            )
            add_dead_letter(state, record, f"internal error: {type(exc).__name__}: {exc}")
            if self.count:
                stats.count(kind, DEAD_LETTERED, INTERNAL_ERROR)
            return
        state.recorder.insert_events([to_stored_event(e) for e in decision.events])
        batch.events.extend(decision.events)
        batch.touched.add(command.aggregate_id)
        state.cache_put(command.aggregate_id, decision.aggregate)
        self._send_follow_ons(state, decision.follow_on_commands)
        stats.events += len(decision.events)
        if self.count:
            stats.count(kind, ACCEPTED)
        add_result(state, record.key, accepted_result(command, decision), digest=parsed.digest)

    def _answer_again(
        self, state: PartitionState, record: ConsumerRecord, parsed: Incoming, kind: str
    ) -> None:
        """A command id answered before (in this cycle or earlier): its first answer again."""
        batch = state.batch
        assert batch is not None
        assert parsed.command_id is not None
        replayed = answer_again(state, record, parsed, batch.answered[parsed.command_id])
        if self.count:
            if replayed:
                batch.stats.count(kind, DUPLICATE)
            else:
                batch.stats.count(kind, REJECTED, ErrorCode.IDEMPOTENCY_KEY_REUSED.value)

    def _unreadable(
        self, state: PartitionState, record: ConsumerRecord, parsed: Incoming, kind: str
    ) -> None:
        """A record that is no command: answered rejected when it names a command id (it is
        dead-lettered already when ``parsed.reason`` says so)."""
        batch = state.batch
        assert batch is not None
        rejection = parsed.rejection
        if self.count:
            code = rejection.code.value if rejection is not None else ""
            batch.stats.count(kind, DEAD_LETTERED if parsed.reason is not None else REJECTED, code)
        if parsed.command_id is not None and rejection is not None:
            result = rejected_result(parsed.command_id, parsed.aggregate_id, None, rejection)
            add_result(state, record.key, result, digest=parsed.digest)

    def _send_follow_ons(self, state: PartitionState, commands: list[dict[str, Any]]) -> None:
        """Send follow-on (or compensating) ``commands`` in the partition's transaction."""
        assert state.batch is not None
        for follow_on in commands:
            state.lane.producer.send(
                self.commands_topic,
                key=str(follow_on["aggregate_id"]).encode(),
                value=fastjson.dumps(follow_on),
            )
            state.batch.stats.follow_ons += 1

    def send_event(self, number: int, stored: StoredEvent) -> None:
        """Recorder callback: one event for partition ``number``'s share of the transaction."""
        batch = self.partitions[number].batch
        assert batch is not None
        batch.event_records.append((str(stored.originator_id).encode(), stored.state, None))

    def _flush(self, state: PartitionState) -> None:
        """Hand the partition's decided records to the producer, a topic at a time (one
        accumulator lock per run of records, not per record: ``send_many``)."""
        batch = state.batch
        assert batch is not None
        producer, number = state.lane.producer, state.number
        batch.event_futures = send_many(producer, self.events_topic, number, batch.event_records)
        batch.result_futures = send_many(producer, self.results_topic, number, batch.result_records)
        send_many(producer, self.dead_letters_topic, number, batch.dead_letters)
