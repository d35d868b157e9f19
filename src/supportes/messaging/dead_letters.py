"""Dead-letter records: the original key and value, the reason and the source in headers."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord


def dead_letter_headers(record: ConsumerRecord, reason: str) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: ``reason`` and where the record came from."""
    return [
        ("reason", reason[:1000].encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
