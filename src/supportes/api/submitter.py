"""Submitting commands for many concurrent requests through one producer and one results reader.

The reader is assigned every partition of ``<prefix>.results`` from its end offsets at start-up
and routes each result to the request waiting for that ``command_id`` (registered before the
command is sent, so no answer can slip past). A request that stops waiting leaves nothing behind.
The answers of one poll reach the event loop in one ``call_soon_threadsafe`` (one wake-up of
the loop per poll, not per result).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from supportes.client import encode_command
from supportes.consumers.records import is_replayed
from supportes.logs import get_logger
from supportes.messaging.clients import (
    Component,
    broker_connected,
    committed_reader,
    plain_producer,
    wait_for_topic,
)
from supportes.messaging.routing import partition_for
from supportes.settings import Settings

log = get_logger("api.submitter")
READY_WITHIN_S = 5.0
"""The results reader counts as connected when its last successful poll is this recent."""
FETCH_MAX_WAIT_MS = 500
"""How long the broker may hold the results reader's fetch when nothing is there."""
SEND_MAX_BLOCK_MS = 0
"""How long ``send`` may wait for the commands topic's metadata once the API runs: not at all.
``send`` runs on the event loop; with kafka-python's default (60 s) a first send while the
broker was down froze every request of the process for a minute, then failed. The metadata is
fetched at start-up instead, and a send that would wait is refused
(:class:`KafkaUnavailableError`)."""


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
    results and hands them to the loops that wait for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.commands_topic = settings.topic("commands")
        results_topic = settings.topic("results")
        self._producer = plain_producer(
            settings,
            Component.API,
            client_id="supportes-api",
            max_block_ms=int(settings.startup_timeout_s * 1000),
            delivery_timeout_ms=int(settings.api_delivery_timeout_s * 1000),
        )
        self._producer.partitions_for(self.commands_topic)  # at start-up, not in a request
        self._producer.config["max_block_ms"] = SEND_MAX_BLOCK_MS  # read by every send
        # A long poll: the broker answers as soon as a result is committed (measured: submit ->
        # result p50 25-28 ms with 20 ms or 500 ms), and an idle API sends 2 fetches a second
        # instead of 100, which took ~5 % of a core from the requests.
        self._reader = committed_reader(
            settings, Component.API, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, client_id="supportes-api"
        )
        partitions = wait_for_topic(
            self._reader, results_topic, timeout_s=settings.startup_timeout_s
        )
        assigned = [TopicPartition(results_topic, p) for p in sorted(partitions)]
        self._reader.assign(assigned)
        for tp, end in self._reader.end_offsets(assigned).items():
            self._reader.seek(tp, end)
        self._last_poll = time.monotonic()
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
            self._producer.send(
                self.commands_topic,
                key=key,
                value=value,
                partition=partition_for(str(envelope["aggregate_id"]), self.settings.partitions),
            )
        except KafkaTimeoutError:
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
        while not self._stop.is_set():
            try:
                polled = self._reader.poll(timeout_ms=200)
            except Exception as exc:  # keep serving: the reader reconnects by itself
                log.warning("results poll failed", error=type(exc).__name__)
                self._stop.wait(0.5)
                continue
            self._last_poll = time.monotonic()
            answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Answer], Answer]]]
            answers = {}
            for records in polled.values():
                for record in records:
                    for future, answer in self._answers(record.value, record.headers):
                        answers.setdefault(future.get_loop(), []).append((future, answer))
            for loop, ready in answers.items():
                try:
                    loop.call_soon_threadsafe(_resolve, ready)
                except RuntimeError:  # that loop is closed: nobody waits there any more
                    continue

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

    def connected(self) -> bool:
        """Whether the results reader polled in the last few seconds and holds a connection
        to a broker."""
        if time.monotonic() - self._last_poll >= READY_WITHIN_S:
            return False
        return broker_connected(self._reader) is not False

    def close(self) -> None:
        """Stop routing and release the clients."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._producer.close(timeout=5)
        self._reader.close()
