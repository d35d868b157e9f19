"""Decoding a projector poll into event envelopes; records that are not one are dead-lettered.

Records that are not event envelopes go to the dead-letter topic, and are acknowledged there
before :func:`decode` returns: the offsets that pass them are only stored after it, so a crash
cannot skip a record without its dead letter (one may be sent twice).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import FutureRecordMetadata

from supportes.aggregates.errors import EnvelopeError
from supportes.eventstore.envelopes import decode_event
from supportes.logs import get_logger
from supportes.messaging.dead_letters import dead_letter_headers, dead_letter_value
from supportes.projections.base import LoggedEvent

log = get_logger("projector")

DEAD_LETTER_TIMEOUT_S = 30.0
"""How long a batch waits for its dead letters to be acknowledged before it fails (and is
read again from the stored offsets)."""


class DeadLetters:
    """The projector's dead letters, sent to ``topic`` on a producer made for the first one."""

    def __init__(self, topic: str, new_producer: Callable[[], KafkaProducer]) -> None:
        self.topic = topic
        self.producer: KafkaProducer | None = None
        self.count = 0
        """How many were sent, over the projector's life."""
        self._new_producer = new_producer

    def send(self, record: ConsumerRecord, reason: str) -> FutureRecordMetadata:
        """Send ``record`` with ``reason`` (not yet acknowledged)."""
        self.count += 1
        if self.producer is None:
            self.producer = self._new_producer()
        sent: FutureRecordMetadata = self.producer.send(
            self.topic,
            key=record.key,
            value=dead_letter_value(record),
            headers=dead_letter_headers(record, reason),
        )
        log.warning(
            "unreadable event dead-lettered",
            partition=record.partition,
            offset=record.offset,
            dead_letter_reason=reason,  # not "reason": log lines mask that personal field name
        )
        return sent

    def acknowledge(self, sent: list[FutureRecordMetadata]) -> None:
        """Wait until the broker has acknowledged ``sent`` (raises what it refused)."""
        if not sent:
            return
        assert self.producer is not None
        self.producer.flush(timeout=DEAD_LETTER_TIMEOUT_S)
        for future in sent:
            future.get(timeout=DEAD_LETTER_TIMEOUT_S)

    def close(self) -> None:
        """Close the producer, if one was made."""
        if self.producer is not None:
            self.producer.close(timeout=10)

    def reset(self) -> None:
        """After an outage: drop the producer (unacknowledged letters are sent again when the
        records are read again); the next letter makes a new one."""
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close(timeout=0)


def decode(
    polled: dict[TopicPartition, list[ConsumerRecord]], dead_letters: DeadLetters
) -> tuple[list[LoggedEvent], dict[int, int]]:
    """Envelopes of a poll and the next offset per partition; the unreadable records are
    dead-lettered and acknowledged before this returns."""
    events: list[LoggedEvent] = []
    next_offsets: dict[int, int] = {}
    sent: list[FutureRecordMetadata] = []
    for tp, records in polled.items():
        for record in records:
            try:
                envelope = decode_event(record.value)
            except EnvelopeError as exc:
                sent.append(dead_letters.send(record, str(exc)))
                continue
            events.append(LoggedEvent(envelope, tp.partition, record.offset))
        if records:
            next_offsets[tp.partition] = records[-1].offset + 1
    dead_letters.acknowledge(sent)
    return events, next_offsets
