"""``SupportesClient``: submit command envelopes and wait for their results.

A command goes to ``<prefix>.commands`` keyed by its aggregate id; its result arrives on the same
partition number of ``<prefix>.results``. The client reads those partitions from their end offsets
as they were before sending, matching results by ``command_id``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from supportes.aggregates import Rejection
from supportes.aggregates.commands import salvage_uuid
from supportes.aggregates.dispatch import rejected_result
from supportes.errors import ConfigError
from supportes.logs import get_logger
from supportes.messaging.clients import Component, committed_reader, plain_producer
from supportes.messaging.routing import key_of, partition_for
from supportes.privacy.edge import CommandSealer
from supportes.settings import Settings

log = get_logger("client")


class ResultTimeoutError(TimeoutError):
    """Some submitted commands got no result in time (is the writer running?)."""

    def __init__(self, missing: list[str], timeout_s: float) -> None:
        super().__init__(
            f"{len(missing)} command(s) got no result within {timeout_s:g}s (is a writer running?)"
        )
        self.missing = missing


class CommandTooLargeError(ValueError):
    """A command envelope is larger than the record size the broker takes; nothing was sent."""

    def __init__(self, position: int, size: int, limit: int) -> None:
        super().__init__(
            f"command is {size:,} bytes as a Kafka record, over the limit of {limit:,} bytes"
            " (SUPPORTES_MAX_COMMAND_BYTES; the broker's message.max.bytes)"
        )
        self.position = position
        self.size = size
        self.limit = limit


def encode_command(
    envelope: Mapping[str, Any], max_bytes: int, position: int = 0
) -> tuple[bytes, bytes]:
    """The commands-topic record (key, value) of ``envelope``; CommandTooLargeError when key and
    value together exceed ``max_bytes`` (``position``: which envelope it is, for the error)."""
    key = key_of(str(envelope["aggregate_id"]))
    try:  # orjson: ~10x the standard library's speed on the API's hot path
        value = orjson.dumps(envelope, default=str)
    except TypeError:  # what orjson refuses (integers beyond 64 bits, non-string keys)
        value = json.dumps(envelope, separators=(",", ":"), default=str).encode()
    size = len(key) + len(value)
    if size > max_bytes:
        raise CommandTooLargeError(position, size, max_bytes)
    return key, value


class SupportesClient:
    """Submits commands and collects results; one instance per thread.

    With a ``sealer`` (:func:`supportes.privacy.wiring.command_sealer`), each envelope's
    personal fields are sealed before it is sent (the front doors' rule: no plaintext on a
    topic); a refusal there (:class:`~supportes.aggregates.Rejection`: ``subject_erased``,
    ``not_found``) is raised before anything is sent. The client closes its sealer.
    """

    def __init__(self, settings: Settings, sealer: CommandSealer | None = None) -> None:
        self.settings = settings
        self.sealer = sealer
        self.commands_topic = settings.topic("commands")
        self.results_topic = settings.topic("results")
        try:
            self._producer = plain_producer(settings, Component.API)
            self._results: KafkaConsumer = committed_reader(
                settings, Component.API, fetch_max_wait_ms=20
            )
        except KafkaError as exc:
            raise ConfigError(
                f"cannot reach Kafka at {settings.bootstrap_servers} "
                f"(SUPPORTES_KAFKA_BOOTSTRAP): {exc}"
            ) from None
        self._watched: set[TopicPartition] = set()

    def close(self) -> None:
        """Release the producer, the consumer and the sealer."""
        self._producer.close(timeout=10)
        self._results.close()
        if self.sealer is not None:
            self.sealer.close()

    def __enter__(self) -> SupportesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def encode(self, envelope: Mapping[str, Any], position: int = 0) -> tuple[bytes, bytes]:
        """The record (key, value) for ``envelope``; CommandTooLargeError over the size limit
        (``position``: which of the caller's envelopes it is, for the error)."""
        return encode_command(envelope, self.settings.max_command_bytes, position)

    def send(self, envelopes: Iterable[Mapping[str, Any]], *, flush: bool = True) -> list[str]:
        """Put envelopes on the commands topic without waiting for results; return command ids.

        Every envelope is encoded and its size checked before the first is sent
        (CommandTooLargeError: nothing is sent). With ``flush`` (the default) this returns once
        the broker has them (acks=all). A refusal of the sealer (:class:`Rejection`) is raised
        before anything is sent.
        """
        return self._send_sealed(self._sealed(envelopes), flush=flush)

    def _send_sealed(self, batch: list[Mapping[str, Any]], *, flush: bool = True) -> list[str]:
        records = [self.encode(envelope, position) for position, envelope in enumerate(batch)]
        ids: list[str] = []
        for envelope, (key, value) in zip(batch, records, strict=True):
            aggregate_id = str(envelope["aggregate_id"])
            self._producer.send(
                self.commands_topic,
                key=key,
                value=value,
                partition=partition_for(aggregate_id, self.settings.partitions),
            )
            ids.append(str(envelope["command_id"]))
        if flush:
            self._producer.flush(timeout=30)
        return ids

    def _sealed(self, envelopes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [self.prepared(envelope) for envelope in envelopes]

    def prepared(self, envelope: Mapping[str, Any]) -> Mapping[str, Any]:
        """``envelope`` as it would be sent: sealed when the client has a sealer (a refusal
        raises :class:`Rejection`). Sealing is deterministic: the same bytes every time."""
        return self.sealer.seal(envelope) if self.sealer is not None else envelope

    def submit(
        self, envelopes: Iterable[Mapping[str, Any]], *, timeout_s: float = 60.0
    ) -> list[dict[str, Any]]:
        """Send envelopes and return their results in input order (an envelope the sealer
        refuses is not sent: its result is that rejection).

        Raises ResultTimeoutError when some result does not arrive within ``timeout_s``.
        """
        batch: list[Mapping[str, Any]] = []
        refused: dict[int, dict[str, Any]] = {}
        for position, envelope in enumerate(envelopes):
            try:
                batch.append(self.prepared(envelope))
            except Rejection as rejection:
                refused[position] = rejected_result(
                    salvage_uuid(envelope, "command_id"),
                    salvage_uuid(envelope, "aggregate_id"),
                    None,
                    rejection,
                )
        partitions = {
            partition_for(str(e["aggregate_id"]), self.settings.partitions) for e in batch
        }
        self._watch(partitions)
        ids = self._send_sealed(batch) if batch else []
        found = self._collect(set(ids), timeout_s)
        answers = iter(found[i] for i in ids)
        total = len(batch) + len(refused)
        return [refused[n] if n in refused else next(answers) for n in range(total)]

    def _watch(self, partitions: set[int]) -> None:
        """Read results partitions from their current end (new ones only are added)."""
        wanted = {TopicPartition(self.results_topic, p) for p in partitions}
        new = wanted - self._watched
        if not new:
            return
        self._watched |= new
        self._results.assign(sorted(self._watched))
        ends = self._results.end_offsets(list(new))
        for tp in new:
            self._results.seek(tp, ends[tp])

    def _collect(self, wanted: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while wanted - found.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(wanted - found.keys())
                self._report_gave_up(len(missing), timeout_s)
                raise ResultTimeoutError(missing, timeout_s)
            polled = self._results.poll(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in polled.values():
                for record in records:
                    result = json.loads(record.value)
                    command_id = result.get("command_id")
                    if command_id in wanted and command_id not in found:
                        found[command_id] = result
        return found

    def _report_gave_up(self, missing: int, timeout_s: float) -> None:
        """Log where the reader stood when it gave up, per results partition: its position, the
        high watermark of its last fetch, the leader its metadata names and how old that
        metadata is (a reader behind the log's end was deaf; one at it, the answers were never
        written). kafka-python internals are read defensively."""
        cluster = getattr(getattr(self._results, "_client", None), "cluster", None)
        refreshed_ms = getattr(cluster, "_last_successful_refresh_ms", None)
        partitions = {}
        for tp in sorted(self._watched):
            try:
                position: int | None = self._results.position(tp, timeout_ms=0)
            except Exception:
                position = None
            leader = cluster.leader_for_partition(tp) if cluster is not None else None
            partitions[str(tp.partition)] = {
                "position": position,
                "high_watermark": self._results.highwater(tp),
                "leader": leader,
            }
        log.warning(
            "results not seen in time",
            topic=self.results_topic,
            missing=missing,
            timeout_s=timeout_s,
            partitions=partitions,
            metadata_age_s=(
                round(time.monotonic() - refreshed_ms / 1000, 1) if refreshed_ms else None
            ),
        )
