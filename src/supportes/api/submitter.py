"""Submitting commands for many concurrent requests through one producer and one results reader.

The reader is assigned every partition of ``<prefix>.results`` from its end offsets at start-up
and routes each result to the request waiting for that ``command_id`` (registered before the
command is sent, so no answer can slip past). A request that stops waiting leaves nothing behind.
The answers of one poll reach the event loop in one ``call_soon_threadsafe`` (one wake-up of
the loop per poll, not per result). Both clients are librdkafka's (:mod:`supportes.messaging.
native`: their network work runs outside the GIL the event loop needs).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from supportes.client import encode_command
from supportes.consumers.records import is_replayed
from supportes.logs import get_logger
from supportes.messaging.native import native_partitions, native_producer, native_reader
from supportes.messaging.routing import partition_for
from supportes.messaging.security import Component
from supportes.settings import Settings

log = get_logger("api.submitter")
READY_WITHIN_S = 5.0
"""The results reader counts as connected when its last successful poll is this recent and
its last statistics (every :data:`STATISTICS_INTERVAL_MS`) showed a broker up."""
STATISTICS_INTERVAL_MS = 1000
POLL_TIMEOUT_S = 0.2
"""How long one poll of the results reader waits for a record (outside the GIL)."""
POLL_RECORDS = 1000
REPORTS_EVERY_S = 1.0
"""How often the producer's failure reports are served (they are only logged). Each call into
librdkafka from the reader thread gives the GIL up and waits to get it back (up to the switch
interval while the event loop is busy), so the reader makes as few as it can per poll."""
Headers = list[tuple[str, bytes]] | None


class KafkaUnavailableError(Exception):
    """The command was not sent: the producer cannot reach the commands topic now."""


@dataclass(frozen=True)
class Answer:
    """A command's result, and whether it answers a resubmission (the first result again)."""

    result: dict[str, Any]
    replayed: bool


def _resolve(answers: Sequence[tuple[asyncio.Future[Answer], Answer]]) -> None:
    for future, answer in answers:
        if not future.done():  # given up on (cancelled) meanwhile
            future.set_result(answer)


class CommandSubmitter:
    """``submit`` from an event loop (any loop, any number); one background thread reads
    results, serves the producer's failure reports, and hands answers to the loops that wait
    for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.commands_topic = settings.topic("commands")
        results_topic = settings.topic("results")
        self._producer = native_producer(
            settings,
            Component.API,
            client_id="supportes-api",
            delivery_timeout_ms=int(settings.api_delivery_timeout_s * 1000),
        )
        self._reader = native_reader(
            settings,
            Component.API,
            client_id="supportes-api",
            group_id=f"{settings.topic_prefix}-api-results",  # in the API's group ACL, never joined
            stats_cb=self._record_statistics,
            **{"statistics.interval.ms": STATISTICS_INTERVAL_MS},
        )
        try:
            native_partitions(self._producer, self.commands_topic, settings.startup_timeout_s)
            partitions = native_partitions(self._reader, results_topic, settings.startup_timeout_s)
            assigned = []
            for partition in partitions:  # from the end, before any command is sent
                _, end = self._reader.get_watermark_offsets(
                    TopicPartition(results_topic, partition),
                    timeout=settings.startup_timeout_s,
                    cached=False,
                )
                assigned.append(TopicPartition(results_topic, partition, end))
            self._reader.assign(assigned)
        except BaseException:
            self._reader.close()
            raise
        self._last_poll = time.monotonic()
        self._brokers_up = True
        self._waiters: dict[str, list[asyncio.Future[Answer]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._route, name="api-results", daemon=True)
        self._thread.start()

    def submit(self, envelope: dict[str, Any]) -> asyncio.Future[Answer]:
        """Send ``envelope`` and return a future, of the running event loop, of its answer
        (CommandTooLargeError or KafkaUnavailableError, and nothing sent, without waiting)."""
        key, value = encode_command(envelope, self.settings.max_command_bytes)
        command_id = str(envelope["command_id"])
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.setdefault(command_id, []).append(answer)
        answer.add_done_callback(lambda done: self._forget(command_id, done))
        try:
            self._producer.produce(
                self.commands_topic,
                value,
                key,
                partition=partition_for(str(envelope["aggregate_id"]), self.settings.partitions),
                on_delivery=_undelivered,
            )
        except (BufferError, KafkaException):  # the local queue is full: the broker is away
            answer.cancel()  # nobody will wait for it: forgotten at once
            raise KafkaUnavailableError("the commands topic cannot be reached now") from None
        return answer

    def _forget(self, command_id: str, done: asyncio.Future[Answer]) -> None:
        with self._lock:
            waiting = self._waiters.get(command_id)
            if waiting is not None and done in waiting:
                waiting.remove(done)
                if not waiting:
                    del self._waiters[command_id]

    def _route(self) -> None:
        next_report = time.monotonic()
        while not self._stop.is_set():
            try:
                polled = self._poll()
                if time.monotonic() >= next_report:  # failure reports of sent commands
                    self._producer.poll(0)
                    next_report = time.monotonic() + REPORTS_EVERY_S
            except Exception as exc:  # keep serving: the clients reconnect by themselves
                log.warning("results poll failed", error=type(exc).__name__)
                self._stop.wait(0.5)
                continue
            self._last_poll = time.monotonic()
            answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Answer], Answer]]]
            answers = {}
            for record in polled:
                if record.error() is not None:
                    _log_record_error(record)
                    continue
                for future, answer in self._answers(
                    record.value(), cast(Headers, record.headers())
                ):
                    answers.setdefault(future.get_loop(), []).append((future, answer))
            for loop, ready in answers.items():
                try:
                    loop.call_soon_threadsafe(_resolve, ready)
                except RuntimeError:  # that loop is closed: nobody waits there any more
                    continue

    def _poll(self) -> list[Message]:
        """The records there are: waits for the first (up to :data:`POLL_TIMEOUT_S`), then
        takes whatever else has arrived without waiting (``consume`` with a timeout waits for
        its whole count: at 500 results/s, 100 ms on average for every answer)."""
        first = self._reader.poll(POLL_TIMEOUT_S)
        if first is None:
            return []
        return [first, *self._reader.consume(POLL_RECORDS, 0)]

    def _answers(
        self, value: bytes | None, headers: list[tuple[str, bytes]] | None
    ) -> list[tuple[asyncio.Future[Answer], Answer]]:
        """The futures waiting for the result in ``value``, each with its answer."""
        if not value:
            return []
        try:
            result = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
        command_id = result.get("command_id") if isinstance(result, dict) else None
        if command_id is None:
            return []
        with self._lock:
            waiting = list(self._waiters.get(command_id, ()))
        if not waiting:
            return []
        answer = Answer(result, is_replayed(headers))
        return [(future, answer) for future in waiting]

    def _record_statistics(self, statistics: str) -> None:
        """librdkafka's statistics (from ``consume``): whether any broker of the cluster is up."""
        try:
            brokers = orjson.loads(statistics).get("brokers", {})
        except (orjson.JSONDecodeError, AttributeError):
            return
        self._brokers_up = any(
            broker.get("nodeid", -1) >= 0 and broker.get("state") == "UP"
            for broker in brokers.values()
        )

    def connected(self) -> bool:
        """Whether the results reader polled in the last few seconds and holds a connection
        to a broker."""
        if time.monotonic() - self._last_poll >= READY_WITHIN_S:
            return False
        return self._brokers_up

    def close(self) -> None:
        """Stop routing and release the clients (commands still queued get 5 s to go out)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._producer.flush(5)
        self._reader.close()


def _undelivered(error: KafkaError | None, record: Message) -> None:
    """A command the producer gave up on (its delivery timeout passed): its request got 202 and
    its result will not come; the client's retry with the same key sends it again."""
    if error is None:
        return
    key = record.key()
    log.warning(
        "command not delivered",
        error=error.name(),
        case_id=key.decode("utf-8", "replace") if key else None,
        partition=record.partition(),
    )


def _log_record_error(record: Message) -> None:
    error = record.error()
    log.warning(
        "results read failed",
        error=error.name() if error is not None else None,
        partition=record.partition(),
    )
