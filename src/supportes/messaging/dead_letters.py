"""Dead-letter records: the original key and value, the reason and the source in headers."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord


def dead_letter_value(record: ConsumerRecord) -> bytes | None:
    """The value a dead letter carries: the record's own, or ``b""`` when the record has
    neither key nor value (Kafka refuses a record without both)."""
    if record.value is None and record.key is None:
        return b""
    value: bytes | None = record.value
    return value


def dead_letter_headers(record: ConsumerRecord, reason: str) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: ``reason`` and where the record came from."""
    return [
        ("reason", reason[:1000].encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
