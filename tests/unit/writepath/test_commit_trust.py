"""A commit the producer reports is believed only when the transaction's producer id and epoch
are still the ones it began with and none of its records failed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka.errors import InvalidProducerEpochError
from kafka.producer.future import FutureProduceResult, FutureRecordMetadata

from supportes.consumers.batch import PendingBatch
from supportes.consumers.ownership import Lane
from supportes.consumers.writer_transaction import CommitNotTrustedError, distrusted


class _Manager:
    """The three things :mod:`supportes.messaging.transactions` reads of kafka-python's."""

    def __init__(self) -> None:
        self.producer_id_and_epoch = SimpleNamespace(producer_id=7, epoch=3)

    def send_offsets_to_transaction(self, *args: Any) -> None: ...
    def begin_commit(self) -> None: ...
    def begin_abort(self) -> None: ...


def _lane() -> tuple[Lane, _Manager]:
    manager = _Manager()
    producer: Any = SimpleNamespace(_transaction_manager=manager, _sender=object())
    producer.begin_transaction = lambda: None
    lane = Lane("supportes-writer-0", producer)
    lane.begin()
    return lane, manager


def _future(error: Exception | None = None) -> FutureRecordMetadata:
    produced = FutureProduceResult(None)
    future = FutureRecordMetadata(produced, 0, -1, None, 0, 1, 0)
    if error is None:
        produced.success((0, -1, None))
    else:
        produced.failure(error)
    return future


def _items(*futures: FutureRecordMetadata) -> list[Any]:
    batch = PendingBatch(0, 0, 0)
    batch.event_futures = list(futures)
    return [(SimpleNamespace(batch=batch), [], [])]


def test_a_commit_of_the_transaction_begun_is_believed() -> None:
    lane, _ = _lane()
    assert lane.began_with == (7, 3)
    assert distrusted(lane, _items(_future(), _future())) is None


def test_an_epoch_changed_inside_the_transaction_is_not_believed() -> None:
    lane, manager = _lane()
    manager.producer_id_and_epoch = SimpleNamespace(producer_id=7, epoch=4)
    reason = distrusted(lane, _items(_future()))
    assert isinstance(reason, CommitNotTrustedError)
    assert "(7, 3) to (7, 4)" in str(reason)


def test_a_failed_record_is_not_believed() -> None:
    lane, _ = _lane()
    reason = distrusted(lane, _items(_future(), _future(InvalidProducerEpochError())))
    assert isinstance(reason, CommitNotTrustedError)
    assert "InvalidProducerEpochError" in str(reason)
