"""Transactional ids and the classification of errors that end a writer's ownership."""

from __future__ import annotations

from kafka.errors import CommitFailedError, KafkaError, ProducerFencedError

from supportes.consumers.ownership import (
    GENERATION_ERRORS,
    instance_transactional_id,
    is_fenced,
    partition_transactional_id,
)


def test_transactional_ids_are_stable_per_instance_and_per_partition() -> None:
    assert instance_transactional_id("supportes-writer", "0") == "supportes-writer-0"
    assert partition_transactional_id(3) == "supportes-writer-p3"


def test_fencing_is_recognised_raw_wrapped_and_named() -> None:
    assert is_fenced(ProducerFencedError())
    assert is_fenced(KafkaError("Cannot perform send", ProducerFencedError()))
    assert is_fenced(KafkaError("in an error state: [Error 90] ProducerFencedError"))
    assert not is_fenced(KafkaError("Cannot perform send", CommitFailedError()))
    assert not is_fenced(TimeoutError("commit did not finish"))


def test_a_stale_generation_is_not_a_fenced_producer() -> None:
    error = CommitFailedError("metadata mismatch: UnknownMemberIdError")
    assert isinstance(error, GENERATION_ERRORS)
    assert not is_fenced(error)
