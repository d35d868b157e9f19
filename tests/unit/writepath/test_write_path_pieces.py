"""Pure pieces of the write path: record parsing, routing, guarded calls, the recorder's checks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from supportes.consumers.records import parse_record
from supportes.eventstore.recorder import KafkaEventRecorder
from supportes.messaging import transactions
from supportes.messaging.bulk_send import send_many
from supportes.messaging.guard import CallTimedOutError, guarded
from supportes.messaging.routing import partition_for
from tests.support.commands import open_case


def test_a_valid_command_parses() -> None:
    envelope = open_case(str(uuid.uuid4()))
    parsed = parse_record(json.dumps(envelope).encode())
    assert parsed.command is not None
    assert parsed.reason is None
    assert parsed.command_id == envelope["command_id"]


@pytest.mark.parametrize(
    ("value", "readable_id", "reason"),
    [
        (b"\xff\x00", False, "not JSON"),
        (b'{"command_id": "6f1c7a52-6bd4-4d43-9bd8-1d8f0f1d2a10", "type": ', True, "not JSON"),
        (b"[1, 2]", False, "not a JSON object"),
        (None, False, "empty record"),
    ],
)
def test_unusable_records_are_dead_letters(
    value: bytes | None, readable_id: bool, reason: str
) -> None:
    parsed = parse_record(value)
    assert parsed.command is None
    assert parsed.reason is not None
    assert parsed.reason.startswith(reason)
    assert (parsed.command_id is not None) is readable_id


def test_unknown_type_keeps_the_command_id_for_its_rejection() -> None:
    envelope = {**open_case(str(uuid.uuid4())), "type": "Teleport"}
    parsed = parse_record(json.dumps(envelope).encode())
    assert parsed.rejection is not None
    assert parsed.rejection.code == "unknown_command"
    assert parsed.command_id == envelope["command_id"]
    assert parsed.reason is not None


def test_routing_matches_kafkas_java_partitioner() -> None:
    # murmur2 values from org.apache.kafka.common.utils.Utils.murmur2 (Java client).
    assert partition_for("21", 1000) == (3321034988 & 0x7FFFFFFF) % 1000
    ids = [str(uuid.UUID(int=n)) for n in range(1000)]
    spread = {partition_for(i, 6) for i in ids}
    assert spread == set(range(6))


def test_guarded_returns_raises_and_times_out() -> None:
    assert guarded(lambda: 42, timeout_s=1, what="answer") == 42
    with pytest.raises(ZeroDivisionError):
        guarded(lambda: 1 / 0, timeout_s=1, what="divide")
    never = threading.Event()
    began = time.monotonic()
    with pytest.raises(CallTimedOutError, match="hang did not finish"):
        guarded(lambda: never.wait(30), timeout_s=0.2, what="hang")
    assert time.monotonic() - began < 2
    never.set()


class _Index:
    """The event index as the recorder sees it: stored envelopes per aggregate."""

    def __init__(self, stored: dict[UUID, list[dict[str, Any]]]) -> None:
        self.stored = stored

    def envelopes_of(self, ids: Any) -> dict[UUID, list[dict[str, Any]]]:
        return {i: self.stored[i] for i in ids if i in self.stored}


def _stored(aggregate_id: UUID, version: int) -> StoredEvent:
    envelope = {"aggregate_id": str(aggregate_id), "version": version, "type": "CaseOpened"}
    return StoredEvent(aggregate_id, version, "CaseOpened", json.dumps(envelope).encode())


def test_recorder_appends_only_the_next_version() -> None:
    case = uuid.uuid4()
    indexed = [json.loads(_stored(case, 1).state), json.loads(_stored(case, 2).state)]
    sent: list[StoredEvent] = []
    recorder = KafkaEventRecorder(_Index({case: indexed}), sent.append)  # type: ignore[arg-type]
    recorder.insert_events([_stored(case, 3), _stored(case, 4)])
    with pytest.raises(IntegrityError):
        recorder.insert_events([_stored(case, 4)])
    assert [s.originator_version for s in recorder.select_events(case)] == [1, 2, 3, 4]
    assert [s.originator_version for s in recorder.select_events(case, gt=2, limit=1)] == [3]
    assert [s.originator_version for s in sent] == [3, 4]
    recorder.end_transaction(committed=False)  # aborted: 3 and 4 never happened
    recorder.insert_events([_stored(case, 3)])


class _SendOnlyProducer:
    """A producer whose internals are not kafka-python 3.0's: only ``send`` exists."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes | None, bytes | None]] = []

    def send(
        self, topic: str, *, value: bytes | None, key: bytes | None, headers: Any, partition: int
    ) -> tuple[str, int, int]:
        self.sent.append((topic, partition, key, value))
        return (topic, partition, len(self.sent) - 1)


def test_send_many_falls_back_to_send_without_the_internals_it_knows() -> None:
    producer = _SendOnlyProducer()
    records = [(b"k", f"v{i}".encode(), None) for i in range(5)]
    futures = send_many(producer, "t", 3, records)  # type: ignore[arg-type]
    assert producer.sent == [("t", 3, b"k", f"v{i}".encode()) for i in range(5)]
    assert futures == [("t", 3, i) for i in range(5)]
    assert send_many(producer, "t", 3, []) == []  # type: ignore[arg-type]


class _Broker:
    """kafka-python's transaction manager and sender, for a broker that answers at once (with
    ``error``, or success) or, if not ``answers``, never."""

    def __init__(self, *, answers: bool = False, error: Exception | None = None) -> None:
        self.answers = answers
        self.error = error
        self.woken = 0
        self.requests: list[str] = []

    def _pending(self, name: str) -> Any:
        self.requests.append(name)
        from kafka.producer.transaction_manager import TransactionalRequestResult

        result = TransactionalRequestResult()
        if self.answers:
            result.done(self.error)
        return result

    def send_offsets_to_transaction(self, offsets: Any, metadata: Any) -> Any:
        return self._pending("offsets")

    def begin_commit(self) -> Any:
        return self._pending("commit")

    def begin_abort(self) -> Any:
        return self._pending("abort")

    def wakeup(self) -> None:
        self.woken += 1


def test_transactional_calls_give_up_at_their_deadline_on_the_callers_thread() -> None:
    internals = _Broker()
    threads_before = threading.active_count()
    producer: Any = type("P", (), {"_transaction_manager": internals, "_sender": internals})()
    pending = transactions.start_send_offsets(producer, {}, None, timeout_s=30)
    assert isinstance(pending.outcome(0.05), CallTimedOutError)  # still on its way
    with pytest.raises(CallTimedOutError, match="send_offsets_to_transaction"):
        pending.wait(0.05)
    with pytest.raises(CallTimedOutError, match="commit"):
        transactions.commit(producer, timeout_s=0.05)
    with pytest.raises(CallTimedOutError, match="abort"):
        transactions.abort(producer, timeout_s=0.05)
    assert internals.requests == ["offsets", "commit", "abort"]
    for broker, outcome in (
        (_Broker(answers=True), None),
        (_Broker(answers=True, error=KeyError()), KeyError),
    ):
        producer = type("P", (), {"_transaction_manager": broker, "_sender": broker})()
        answered = transactions.start_send_offsets(producer, {}, None, timeout_s=30)
        found = answered.outcome(1)
        assert found is None if outcome is None else isinstance(found, outcome)
    assert internals.woken == 3  # the network thread is woken for each request
    assert threading.active_count() <= threads_before  # no helper thread was started


class _PublicCallsOnly:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def send_offsets_to_transaction(self, offsets: Any, metadata: Any) -> None:
        self.calls.append("offsets")
        raise RuntimeError("fenced")

    def commit_transaction(self) -> None:
        self.calls.append("commit")


def test_transactional_calls_fall_back_to_the_public_methods() -> None:
    producer = _PublicCallsOnly()
    pending = transactions.start_send_offsets(producer, {}, None, timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="fenced"):
        pending.wait(5)
    assert isinstance(pending.outcome(5), RuntimeError)
    transactions.commit(producer, timeout_s=5)  # type: ignore[arg-type]
    assert producer.calls == ["offsets", "commit"]
