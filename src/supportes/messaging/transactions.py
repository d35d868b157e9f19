"""Transactional producer calls that never wait forever and need no helper thread.

kafka-python's ``send_offsets_to_transaction``, ``commit_transaction`` and
``abort_transaction`` enqueue a request for the producer's network thread and then wait on its
result without a timeout. :func:`guarded` bounds them by running each on a new thread; on the
writer's path that cost more than the thread: a new thread waits for the GIL behind the
threads already computing, and a cycle's commit was seen to start 30 ms after it was called.
Here the same three steps are taken on the caller's thread (the request enqueued on the
producer's ``_transaction_manager``, the network thread woken, the result waited for with a
timeout): the calls kafka-python's own methods make, bounded. A producer without those
internals falls back to :func:`guarded` around the public methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, NodeNotReadyError, UnknownBrokerIdError
from kafka.structs import OffsetAndMetadata

from supportes.messaging.guard import CallTimedOutError, guarded

Offsets = Mapping[TopicPartition, OffsetAndMetadata]


class PendingCall:
    """A transactional request on its way to the broker."""

    def __init__(self, what: str, result: Any = None, future: Future[None] | None = None) -> None:
        self._what = what
        self._result = result  # kafka-python's TransactionalRequestResult
        self._future = future  # the fallback: the public call running on a thread

    def wait(self, timeout_s: float) -> None:
        """Return once the request succeeded; raise its error, or CallTimedOutError."""
        if self._future is not None:
            self._future.result()  # the guarded call has its own deadline
            return
        if not self._result.wait(timeout_ms=timeout_s * 1000):
            raise CallTimedOutError(f"{self._what} did not finish within {timeout_s:g}s")

    def outcome(self, timeout_s: float) -> BaseException | None:
        """Wait for the request to end; the error it ended with (CallTimedOutError when it
        has not ended within ``timeout_s``), or None if it succeeded."""
        try:
            self.wait(timeout_s)
        except Exception as exc:
            return exc
        return None


_fallback = ThreadPoolExecutor(max_workers=2, thread_name_prefix="txn-call")


def start_send_offsets(
    producer: KafkaProducer, offsets: Offsets, group_metadata: Any, *, timeout_s: float
) -> PendingCall:
    """Add consumed ``offsets`` to the open transaction without waiting: the network thread
    sends AddOffsetsToTxn and TxnOffsetCommit while the caller goes on."""
    manager, sender = _internals(producer)
    what = "send_offsets_to_transaction"
    if manager is None:
        call = lambda: producer.send_offsets_to_transaction(offsets, group_metadata)  # noqa: E731
        return PendingCall(
            what, future=_fallback.submit(guarded, call, timeout_s=timeout_s, what=what)
        )
    result = manager.send_offsets_to_transaction(offsets, group_metadata)
    sender.wakeup()
    return PendingCall(what, result=result)


def commit(producer: KafkaProducer, *, timeout_s: float) -> None:
    """``commit_transaction`` with a deadline (CallTimedOutError: the outcome is unknown)."""
    _end(producer, commit=True, timeout_s=timeout_s)


def abort(producer: KafkaProducer, *, timeout_s: float) -> None:
    """``abort_transaction`` with a deadline (CallTimedOutError: the outcome is unknown)."""
    _end(producer, commit=False, timeout_s=timeout_s)


def _end(producer: KafkaProducer, *, commit: bool, timeout_s: float) -> None:
    manager, sender = _internals(producer)
    what = "commit" if commit else "abort"
    if manager is None:
        call = producer.commit_transaction if commit else producer.abort_transaction
        guarded(call, timeout_s=timeout_s, what=what)
        return
    result = manager.begin_commit() if commit else manager.begin_abort()
    sender.wakeup()
    PendingCall(what, result=result).wait(timeout_s)


def producer_epoch(producer: KafkaProducer) -> tuple[int, int] | None:
    """The producer id and epoch ``producer`` writes with now (None without kafka-python 3.0's
    transaction manager). A change between a transaction's begin and its commit means the
    client re-initialised itself in between: what it "committed" is not what was sent."""
    manager, _ = _internals(producer)
    if manager is None:
        return None
    current = manager.producer_id_and_epoch
    return int(current.producer_id), int(current.epoch)


def no_epoch_bump_inside_a_transaction(producer: KafkaProducer) -> None:
    """Make kafka-python treat a lost producer state (INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_
    SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID on a send) as fatal for this transactional producer,
    as the Java client does, instead of bumping the epoch in place (its KIP-360 path).

    kafka-python 3.0 bumps the epoch of a transactional producer in the middle of a
    transaction: the broker aborts the open transaction, the client forgets its partitions
    and then completes the pending ``commit_transaction`` without sending EndTxn, reporting
    success for a batch that was aborted (seen after a 20 s broker pause: the writer then
    failed on the record's error; a writer that did not look would have lost the batch).
    Fatal, the commit fails and the writer starts over with a new producer, whose
    ``init_transactions`` aborts the open transaction and fences the old epoch."""
    manager, _ = _internals(producer)
    if manager is not None and hasattr(manager, "_supports_epoch_bump"):
        manager._supports_epoch_bump = lambda: False


def no_lost_request_when_the_coordinator_dies(producer: KafkaProducer) -> None:
    """Make kafka-python retry a transactional request whose coordinator cannot be reached,
    instead of dropping it (the Java client retries it after looking the coordinator up).

    kafka-python 3.0.12's sender (kafka/producer/sender.py ``_maybe_send_pending_request``)
    takes the coordinator, then ``await_ready(coordinator)``, which *raises* when the node is not
    ready (kafka/net/compat.py) instead of returning False as the sender's ``elif not
    await_ready(...)`` branch expects. The ``except`` branch looks the coordinator up, but the
    handler is re-enqueued only ``if target_node is None``, and the coordinator was already
    assigned: the request is lost. After a kill -9 of the transaction coordinator's node the
    next AddPartitionsToTxn was dropped (debug log: "Node coordinator-1 not ready after 30000
    ms", then FindCoordinator answered with the new coordinator, then nothing): the records'
    partitions were never added, the sender spun on "Created 0 produce requests" (560,000 times
    in 60 s, a core), and ``commit`` never finished (tests/e2e/test_stack_cluster.py: every
    run whose killed node was the coordinator). The writer bounds the call and starts over
    with a new producer ("transaction outcome unknown"), 30 s lost per occurrence. Returning
    False from ``await_ready`` for a node that is not ready takes the sender's own retry path:
    the coordinator is looked up again and the request re-enqueued; an idempotent producer's
    requests to the least-loaded node already retried either way."""
    sender = getattr(producer, "_sender", None)
    client = getattr(sender, "_client", None)
    await_ready = getattr(client, "await_ready", None)
    if client is None or await_ready is None:
        return

    def ready_or_not(node_id: Any, timeout_ms: int = 30_000) -> bool:
        try:
            return bool(await_ready(node_id, timeout_ms=timeout_ms))
        except (KafkaConnectionError, NodeNotReadyError, UnknownBrokerIdError):
            return False

    client.await_ready = ready_or_not


def _internals(producer: KafkaProducer) -> tuple[Any, Any]:
    """kafka-python 3.0's transaction manager and sender, or (None, None) without them."""
    manager = getattr(producer, "_transaction_manager", None)
    sender = getattr(producer, "_sender", None)
    needed = ("send_offsets_to_transaction", "begin_commit", "begin_abort")
    if manager is None or sender is None or not all(hasattr(manager, n) for n in needed):
        return None, None
    return manager, sender
