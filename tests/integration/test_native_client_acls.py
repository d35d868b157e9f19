"""The API's librdkafka clients under the same least privilege as the kafka-python ones (real
secured broker): commands in, results read, nothing else."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Message, TopicPartition

from supportes.messaging.native import native_producer, native_reader
from supportes.messaging.security import Component, security_protocol
from supportes.settings import Settings
from tests.conftest import Isolated


@pytest.fixture(autouse=True)
def _secured(stack: Settings) -> None:
    if not security_protocol(stack).startswith("SASL_"):
        pytest.skip("the stack's Kafka has no SASL (an external PLAINTEXT cluster)")


def delivery(settings: Settings, component: Component, topic: str) -> KafkaError | None:
    """What became of one record produced to partition 0 of ``topic``: the error of its
    delivery report, None when delivered (the API's producer reports failures only)."""
    producer = native_producer(
        settings, component, client_id="acl-probe", delivery_timeout_ms=15_000
    )
    reports: list[KafkaError | None] = []
    producer.produce(
        settings.topic(topic),
        b"probe",
        b"k",
        partition=0,
        on_delivery=lambda error, _record: reports.append(error),
    )
    still_queued = producer.flush(20)
    assert still_queued == 0, "neither delivered nor failed within 20 s"
    return reports[0] if reports else None


def test_the_api_producer_cannot_write_events_or_results(isolated: Isolated) -> None:
    for topic in ("events", "results"):
        error = delivery(isolated.settings, Component.API, topic)
        assert error is not None
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_the_api_producer_writes_commands(isolated: Isolated) -> None:
    assert delivery(isolated.settings, Component.API, "commands") is None


def test_the_results_reader_reads_results_but_not_commands(isolated: Isolated) -> None:
    settings = isolated.settings
    errors: dict[str, list[int]] = {}
    for topic in ("results", "commands"):
        reader = native_reader(
            settings,
            Component.API,
            client_id="acl-probe",
            group_id=f"{settings.topic_prefix}-api-results",
        )
        try:
            reader.assign([TopicPartition(settings.topic(topic), 0, 0)])
            found: list[int] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                record: Message | None = reader.poll(0.2)
                if record is not None and record.error() is not None:
                    found.append(record.error().code())
            errors[topic] = found
        finally:
            reader.close()
    assert errors["results"] == []  # no group error either: its group is in the API's ACL
    assert KafkaError.TOPIC_AUTHORIZATION_FAILED in errors["commands"]
