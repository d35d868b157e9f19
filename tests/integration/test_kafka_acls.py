"""Least privilege, proven by the real secured broker (design section 8): each component's
principal can do what its role needs and the broker refuses the rest."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

from supportes.messaging.clients import (
    Component,
    committed_reader,
    group_consumer,
    plain_producer,
    transactional_producer,
)
from supportes.messaging.log_reader import read_to_end
from supportes.messaging.security import credentials_for, security_protocol
from supportes.settings import Settings
from supportes.stack.kafka_acls import acl_bindings, existing_acls
from supportes.stack.kafka_admin import admin_client
from tests.conftest import Isolated

QUICK: dict[str, Any] = {"max_block_ms": 10_000, "request_timeout_ms": 10_000}


@pytest.fixture(autouse=True)
def _secured(stack: Settings) -> None:
    if not security_protocol(stack).startswith("SASL_"):
        pytest.skip("the stack's Kafka has no SASL (an external PLAINTEXT cluster)")


def produce(settings: Settings, component: Component, topic: str, **extra: Any) -> None:
    """One record on partition 0 of ``settings.topic(topic)`` as ``component``; raises what the
    broker answered."""
    producer = plain_producer(settings, component, **{**QUICK, **extra})
    try:
        producer.send(settings.topic(topic), value=b"probe", partition=0).get(timeout=15)
    finally:
        producer.close(timeout=5)


def read_all(settings: Settings, component: Component, topic: str) -> list[bytes]:
    reader = committed_reader(settings, component)
    try:
        tp = TopicPartition(settings.topic(topic), 0)
        return [r.value for batch in read_to_end(reader, tp, 0) for r in batch]
    finally:
        reader.close()


def fetch(settings: Settings, component: Component, topic: str) -> None:
    """One fetch from partition 0 of ``topic`` as ``component`` (raises what the broker said;
    kafka-python's ``end_offsets`` answers 0 for a topic it may not describe, so read_to_end
    would just find nothing)."""
    reader = committed_reader(settings, component)
    try:
        tp = TopicPartition(settings.topic(topic), 0)
        reader.assign([tp])
        reader.seek(tp, 0)
        for _ in range(10):
            reader.poll(timeout_ms=300)
    finally:
        reader.close()


def test_the_api_cannot_write_events(isolated: Isolated) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        produce(isolated.settings, Component.API, "events")


def test_the_projector_cannot_write_commands(isolated: Isolated) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        produce(isolated.settings, Component.PROJECTOR, "commands")


def test_the_auditor_reads_events_and_writes_nothing(isolated: Isolated) -> None:
    settings = isolated.settings
    producer = transactional_producer(
        settings, Component.WRITER, f"{isolated.group_id}-{uuid.uuid4().hex[:6]}", **QUICK
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(settings.topic("events"), value=b"sealed", partition=0)
        producer.commit_transaction()
    finally:
        producer.close(timeout=5)
    assert read_all(settings, Component.AUDITOR, "events") == [b"sealed"]
    for topic in ("events", "commands", "dead-letters"):
        with pytest.raises(TopicAuthorizationFailedError):
            produce(settings, Component.AUDITOR, topic, enable_idempotence=False, acks=1)
    # An idempotent producer needs WRITE on some topic to get a producer id (KIP-679).
    with pytest.raises(KafkaError, match="ClusterAuthorizationFailed"):
        produce(settings, Component.AUDITOR, "events")


def test_each_component_does_its_own_job(isolated: Isolated) -> None:
    settings = isolated.settings
    produce(settings, Component.API, "commands")  # submitting
    produce(settings, Component.PROJECTOR, "dead-letters")  # parking an event
    producer = transactional_producer(settings, Component.WRITER, f"{isolated.group_id}-0")
    try:  # the writer's transaction: events, results, follow-on commands, dead letters
        producer.init_transactions()
        producer.begin_transaction()
        for topic in ("events", "results", "commands", "dead-letters"):
            producer.send(settings.topic(topic), value=b"decided", partition=0)
        producer.commit_transaction()
    finally:
        producer.close(timeout=5)
    assert read_all(settings, Component.WRITER, "commands")[-1] == b"decided"
    assert read_all(settings, Component.API, "results") == [b"decided"]
    assert read_all(settings, Component.PROJECTOR, "events") == [b"decided"]


def test_nobody_but_the_writer_reads_commands(isolated: Isolated) -> None:
    settings = isolated.settings
    with pytest.raises(TopicAuthorizationFailedError):  # the API may describe it (it writes)
        fetch(settings, Component.API, "commands")
    for component in (Component.PROJECTOR, Component.AUDITOR):  # to them it does not exist
        reader = committed_reader(settings, component)
        try:
            visible = reader.topics()
        finally:
            reader.close()
        assert settings.topic("events") in visible
        assert settings.topic("commands") not in visible
    fetch(settings, Component.WRITER, "commands")


def test_transactional_ids_and_groups_are_the_writers_own(isolated: Isolated) -> None:
    settings = isolated.settings
    stranger = transactional_producer(settings, Component.WRITER, "not-a-writer-id", **QUICK)
    try:
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            stranger.init_transactions()
    finally:
        stranger.close(timeout=0)
    intruder = group_consumer(settings, Component.PROJECTOR, isolated.group_id)
    try:  # a member in the writer's group would be handed commands partitions
        intruder.subscribe([settings.topic("events")])
        with pytest.raises(GroupAuthorizationFailedError):
            _poll(intruder, times=20)
    finally:
        intruder.close(autocommit=False)


def _poll(consumer: KafkaConsumer, *, times: int) -> None:
    for _ in range(times):
        consumer.poll(timeout_ms=500)


def _bare(settings: Settings, **security: Any) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        request_timeout_ms=5_000,
        bootstrap_timeout_ms=5_000,
        **security,
    )


def test_a_client_without_credentials_cannot_connect(isolated: Isolated) -> None:
    with pytest.raises(KafkaError):  # the broker drops a connection that does not do SASL
        _bare(isolated.settings).topics()


def test_a_wrong_password_fails_authentication(isolated: Isolated) -> None:
    settings = isolated.settings
    right = credentials_for(settings, Component.API)
    assert right is not None

    def connect(password: str) -> set[str]:
        consumer = _bare(
            settings,
            security_protocol=security_protocol(settings),
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=right.username,
            sasl_plain_password=password,
        )
        try:
            return set(consumer.topics())
        finally:
            consumer.close()

    assert settings.topic("commands") in connect(right.password)  # the same client, right key
    # A broker refusing SASL credentials disconnects; kafka-python then reports that it could
    # not bootstrap (it raises SaslAuthenticationFailedError only on some code paths).
    with pytest.raises((SaslAuthenticationFailedError, KafkaError)):
        connect("not-the-password")


def test_the_acls_are_exactly_those_of_the_design(isolated: Isolated) -> None:
    wanted = set(acl_bindings(isolated.settings))
    with admin_client(isolated.settings) as admin:
        existing = existing_acls(admin)
    prefix = isolated.settings.topic_prefix
    mine = {acl for acl in existing if acl.resource_pattern.resource_name.startswith(prefix)}
    assert mine == {acl for acl in wanted if acl.resource_pattern.resource_name.startswith(prefix)}
    assert wanted <= existing
