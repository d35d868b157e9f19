"""Ceilings of bare kafka-python on this machine: what our writer and projector cannot beat.

* :func:`kafka_ctp_ceiling` — consume-transform-produce with one transaction per poll batch, the
  shape of the command writer.
* :func:`kafka_read_ceiling` — a read_committed read of a transactionally written topic.
* :func:`kafka_latency_ceiling` — produce → consume round trip with one message per transaction.

Each function creates its own scratch topics (``bench-<hex>.*``), deletes them afterwards and
returns a :class:`~supportes.bench.results.Result`. Everything is bounded by ``timeout_s``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from supportes.bench import payloads
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_topics
from supportes.bench.stats import percentile, rate
from supportes.messaging import transactions
from supportes.messaging.bulk_send import Record, send_many
from supportes.messaging.clients import Component, connection_config
from supportes.settings import Settings

MB = 1_000_000
_ARRIVAL_GRACE_S = 15.0  # how long the latency reader may lag the last send


TXN_TIMEOUT_S = 30.0
"""Deadline of transactional calls (:mod:`supportes.messaging.transactions`)."""


class BenchTimeoutError(TimeoutError):
    """A benchmark phase did not finish within its time bound."""


@dataclass(frozen=True)
class ProducerTuning:
    """Producer knobs that change throughput (everything else is kafka-python's default).

    The defaults are what ``make bench`` chose on this 2-core machine with a loopback broker
    (medians of repeated 20,000-message consume-transform-produce runs; the machine was shared,
    so differences under ~10% are noise):

    * ``retry_backoff_ms=10`` (default 100): after each commit, kafka-python's next
      AddPartitionsToTxn usually gets CONCURRENT_TRANSACTIONS while the coordinator still writes
      the previous commit markers, and the sender thread then *sleeps* ``retry_backoff_ms``
      before retrying (it ignores the 20 ms backoff its handler asks for). 100 -> 10 gave
      +15-20% consume-transform-produce throughput and removed the 100 ms latency tail.
    * ``linger_ms=20``, ``batch_size=256 KiB``: batches fill while the loop appends and the
      commit flushes them anyway; 0, 5 and 20 ms or 64 KiB batches were within noise, 20 ms
      was steadiest.
    * ``compression_type=None``: lz4/zstd/snappy are not installed (no new dependencies) and
      gzip (level 9 in kafka-python) was 0-10% slower with the C ``crc32c`` extension present.
      Without that extension (kafka-python then computes CRC-32C in pure Python at ~11 MB/s)
      gzip was the faster choice, having ~3.4x fewer bytes to checksum; it is also 3.4x
      smaller on disk, which matters for the events topic that is kept forever.
    """

    linger_ms: int = 20
    batch_size: int = 256 * 1024
    compression_type: str | None = None
    max_in_flight_requests_per_connection: int = 5
    retry_backoff_ms: int = 10

    def describe(self) -> str:
        """A short label for notes."""
        return (
            f"linger_ms={self.linger_ms} batch_size={self.batch_size // 1024}KiB "
            f"compression={self.compression_type or 'none'} "
            f"retry_backoff_ms={self.retry_backoff_ms}"
        )


def _producer(settings: Settings, tuning: ProducerTuning, **extra: Any) -> Any:
    return KafkaProducer(
        **connection_config(settings, Component.ADMIN),
        client_id="supportes-bench",
        acks="all",
        enable_idempotence=True,
        linger_ms=tuning.linger_ms,
        batch_size=tuning.batch_size,
        compression_type=tuning.compression_type,
        max_in_flight_requests_per_connection=tuning.max_in_flight_requests_per_connection,
        retry_backoff_ms=tuning.retry_backoff_ms,
        **extra,
    )


def _consumer(settings: Settings, *topics: str, **extra: Any) -> Any:
    return KafkaConsumer(
        *topics,
        **connection_config(settings, Component.ADMIN),
        client_id="supportes-bench",
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **extra,
    )


def _deadline_check(benchmark: str, phase: str, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BenchTimeoutError(f"{benchmark}: {phase} did not finish in time")


def _keys(count: int) -> list[bytes]:
    return [str(uuid.uuid4()).encode() for _ in range(count)]


def prefill(
    settings: Settings,
    topic: str,
    bodies: Iterator[tuple[bytes, bytes]],
    count: int,
    *,
    benchmark: str,
    tuning: ProducerTuning = ProducerTuning(),
    per_transaction: int | None = None,
    timeout_s: float = 300.0,
) -> float:
    """Write ``count`` ``(key, value)`` records to ``topic``; return the seconds it took.

    With ``per_transaction`` the records are written transactionally in transactions of that
    many records (as the writer leaves the events topic: commit markers between batches).
    """
    extra: dict[str, Any] = {}
    if per_transaction:
        extra["transactional_id"] = f"{topic}-prefill"
    producer = _producer(settings, tuning, **extra)
    progress = Progress(benchmark, f"prefill {topic}", count)
    deadline = time.monotonic() + timeout_s
    try:
        if per_transaction:
            producer.init_transactions()
            producer.begin_transaction()
        started = time.perf_counter()
        for index in range(count):
            key, value = next(bodies)
            producer.send(topic, value=value, key=key)
            if per_transaction and (index + 1) % per_transaction == 0:
                transactions.commit(producer, timeout_s=TXN_TIMEOUT_S)
                producer.begin_transaction()
            if index % 1000 == 999:
                progress.advance(1000)
                _deadline_check(benchmark, "prefill", deadline)
        if per_transaction:
            transactions.commit(producer, timeout_s=TXN_TIMEOUT_S)
        producer.flush(timeout=max(1.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - started
        progress.done = count
        progress.finish()
        return elapsed
    finally:
        producer.close(timeout=5)


def _command_bodies(count: int, cases: int, size: int) -> Iterator[tuple[bytes, bytes]]:
    keys = _keys(cases)
    for index in range(count):
        key = keys[index % cases]
        yield key, payloads.command(key.decode(), size=size)


def _sum_end_offsets(consumer: Any, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return int(sum(consumer.end_offsets(tps).values()))


@dataclass
class _CtpCounters:
    """What the consume-transform-produce loop did, and where its time went."""

    consumed: int = 0
    transactions: int = 0
    produced_bytes: int = 0
    markers: int = 0
    poll_s: float = 0.0
    send_s: float = 0.0
    offsets_s: float = 0.0
    commit_s: float = 0.0
    first_records_at: float | None = None
    ended_at: float = 0.0

    @property
    def wall_s(self) -> float:
        """First records returned → last commit done."""
        return self.ended_at - (self.first_records_at or self.ended_at)


@dataclass
class _CtpLoop:
    """One consumer and one transactional producer: a transaction per poll batch.

    The offsets and the commit are kafka-python's own calls, bounded the way the writer bounds
    them (:mod:`supportes.messaging.transactions`: on this thread, no helper). With ``bulk``
    each partition's records go to the producer with
    :func:`~supportes.messaging.bulk_send.send_many`, as the writer sends them; without, one
    ``send`` per record (what a plain kafka-python loop does).
    """

    consumer: Any
    producer: Any
    events: str
    results: str
    convert: Callable[[bytes], tuple[bytes, bytes]]
    txn_timeout_s: float
    bulk: bool = False

    def run(self, messages: int, progress: Progress, deadline: float) -> _CtpCounters:
        """Process until ``messages`` commands are consumed and committed."""
        counters = _CtpCounters()
        while counters.consumed < messages:
            _deadline_check(progress.benchmark, "consume-transform-produce", deadline)
            started = time.perf_counter()
            batch = self.consumer.poll(timeout_ms=1000)
            polled = time.perf_counter()
            if not batch:
                continue
            if counters.first_records_at is None:
                counters.first_records_at = polled  # the group join is not throughput
            else:
                counters.poll_s += polled - started
            self._transaction(batch, counters)
            progress.advance(sum(len(records) for records in batch.values()))
        counters.ended_at = time.perf_counter()
        return counters

    def _transaction(self, batch: dict[Any, list[Any]], counters: _CtpCounters) -> None:
        started = time.perf_counter()
        self.producer.begin_transaction()
        offsets = {}
        for tp, records in batch.items():
            bodies = self._bodies(records, counters)
            if self.bulk:
                self._send_bulk(tp.partition, bodies)
            else:
                for key, event_body, result_body in bodies:
                    self.producer.send(self.events, event_body, key, partition=tp.partition)
                    self.producer.send(self.results, result_body, key, partition=tp.partition)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            counters.consumed += len(records)
            counters.markers += 1  # each touched events partition gets one commit marker
        sent = time.perf_counter()
        metadata = self.consumer.group_metadata()
        transactions.start_send_offsets(
            self.producer, offsets, metadata, timeout_s=self.txn_timeout_s
        ).wait(self.txn_timeout_s)
        offsets_sent = time.perf_counter()
        transactions.commit(self.producer, timeout_s=self.txn_timeout_s)
        committed = time.perf_counter()
        counters.send_s += sent - started
        counters.offsets_s += offsets_sent - sent
        counters.commit_s += committed - offsets_sent
        counters.transactions += 1

    def _bodies(
        self, records: list[Any], counters: _CtpCounters
    ) -> Iterator[tuple[bytes | None, bytes, bytes]]:
        """Key, event body and result body of each record, in order (counted as produced)."""
        for record in records:
            event_body, result_body = self.convert(record.value)
            counters.produced_bytes += len(event_body) + len(result_body)
            yield record.key, event_body, result_body

    def _send_bulk(
        self, partition: int, bodies: Iterator[tuple[bytes | None, bytes, bytes]]
    ) -> None:
        events: list[Record] = []
        results: list[Record] = []
        for key, event_body, result_body in bodies:
            events.append((key, event_body, None))
            results.append((key, result_body, None))
        send_many(self.producer, self.events, partition, events)
        send_many(self.producer, self.results, partition, results)


def kafka_ctp_ceiling(
    settings: Settings,
    messages: int = 100_000,
    partitions: int = 6,
    batch_size: int = 500,
    value_size: int = payloads.COMMAND_SIZE,
    *,
    event_size: int = payloads.EVENT_SIZE,
    tuning: ProducerTuning = ProducerTuning(),
    check_crcs: bool = True,
    transform: bool = True,
    bulk: bool = False,
    txn_timeout_s: float = 30.0,
    timeout_s: float = 600.0,
) -> Result:
    """Bare consume-transform-produce with one Kafka transaction per poll batch.

    Pre-fills ``<prefix>.commands`` (``partitions`` partitions) with ``messages`` command
    envelopes of ``value_size`` bytes, then ONE consumer (group member, read_committed,
    ``max_poll_records=batch_size``, ``check_crcs``) and ONE transactional producer process them:
    per poll batch, begin; per command one event (``event_size`` bytes) to ``<prefix>.events``
    and one result (~250 bytes) to ``<prefix>.results`` on the command's partition number; the
    consumed offsets via ``send_offsets_to_transaction(offsets, consumer.group_metadata())``;
    commit (both bounded, see :mod:`supportes.messaging.transactions`). With ``transform`` each
    command is parsed and its event and result built as JSON (the least a writer does); without,
    fixed bodies are sent. With ``bulk`` a partition's records are sent with ``send_many`` (the
    writer's way) instead of one ``send`` each.
    """
    name = "kafka-ctp-ceiling"
    result = Result(
        name,
        params={
            "messages": messages,
            "partitions": partitions,
            "batch_size": batch_size,
            "value_size": value_size,
            "event_size": event_size,
            "transform": transform,
            "bulk": bulk,
            "check_crcs": check_crcs,
            **asdict(tuning),
        },
    )
    deadline = time.monotonic() + timeout_s
    with scratch_topics(settings, partitions) as scratch:
        commands = scratch.topic("commands")
        prefill_s = prefill(
            scratch,
            commands,
            _command_bodies(messages, max(1, messages // 10), value_size),
            messages,
            benchmark=name,
            tuning=tuning,
            timeout_s=timeout_s / 2,
        )
        make = payloads.Transform(event_size)
        fixed = make(payloads.command(str(uuid.uuid4()), size=value_size))
        consumer = _consumer(
            scratch,
            commands,
            group_id=f"{scratch.topic_prefix}-writer",
            max_poll_records=batch_size,
            check_crcs=check_crcs,
        )
        producer = _producer(scratch, tuning, transactional_id=f"{scratch.topic_prefix}-ctp")
        try:
            producer.init_transactions()
            joined = time.perf_counter()
            loop = _CtpLoop(
                consumer,
                producer,
                scratch.topic("events"),
                scratch.topic("results"),
                make if transform else (lambda _body: fixed),
                txn_timeout_s,
                bulk,
            )
            progress = Progress(name, "consume-transform-produce", messages)
            counters = loop.run(messages, progress, deadline)
            progress.finish()
            produced = _sum_end_offsets(consumer, scratch.topic("events"), partitions)
            committed = sum(
                consumer.committed(TopicPartition(commands, p)) or 0 for p in range(partitions)
            )
        finally:
            producer.close(timeout=5)
            consumer.close()

    ok = produced == counters.consumed + counters.markers and committed == messages
    _ctp_metrics(result, counters, prefill_s, joined, check="ok" if ok else "MISMATCH")
    return result


def _ctp_metrics(
    result: Result, counters: _CtpCounters, prefill_s: float, joined: float, check: str
) -> None:
    params = result.params
    wall = counters.wall_s
    txns = counters.transactions
    tuning = (
        f"linger_ms={params['linger_ms']} batch_size={params['batch_size'] // 1024}KiB "
        f"compression={params['compression_type'] or 'none'} check_crcs={params['check_crcs']}"
    )
    result.add("messages", rate(counters.consumed, wall), "msg/s", f"consumed->committed; {tuning}")
    result.add("transactions", rate(txns, wall), "txn/s", f"{txns} txns")
    result.add("avg batch", counters.consumed / txns if txns else 0, "msg/txn")
    result.add(
        "produced",
        rate(counters.produced_bytes, wall) / MB,
        "MB/s",
        f"{params['event_size']} B event + ~250 B result per message (uncompressed)",
    )
    result.add("wall", wall, "s", f"first records -> last commit; check {check}")
    result.add(
        "group join", (counters.first_records_at or joined) - joined, "s", "subscribe -> 1st batch"
    )
    result.add(
        "prefill",
        rate(params["messages"], prefill_s),
        "msg/s",
        f"{params['value_size']} B commands, plain producer, acks=all",
    )
    per_txn_ms = 1000 / txns if txns else 0.0
    sends = "2 records per msg via send_many" if params["bulk"] else "2 producer.send per msg"
    send_note = f"json + {sends}" if params["transform"] else sends
    for label, seconds, note in (
        ("poll", counters.poll_s, "consumer.poll"),
        ("transform+send", counters.send_s, send_note),
        ("send_offsets", counters.offsets_s, "AddOffsetsToTxn + TxnOffsetCommit"),
        ("commit", counters.commit_s, "flush + AddPartitionsToTxn + EndTxn"),
    ):
        share = f"{100 * seconds / wall:.0f}% of wall; " if wall else ""
        result.add(f"{label} per txn", seconds * per_txn_ms, "ms", share + note)


def _event_bodies(count: int, cases: int, size: int) -> Iterator[tuple[bytes, bytes]]:
    """Distinct events (as the writer would leave them), so compression is not flattered."""
    make = payloads.Transform(size)
    for key, command in _command_bodies(count, cases, payloads.COMMAND_SIZE):
        yield key, make(command)[0]


def read_to_end(
    settings: Settings,
    topic: str,
    partitions: int,
    *,
    max_poll_records: int,
    check_crcs: bool,
    progress: Progress,
    deadline: float,
) -> tuple[int, int, float]:
    """Read ``topic`` (read_committed, no group) from the beginning to its end offsets.

    Returns ``(records, value bytes, seconds)``.
    """
    consumer = _consumer(settings, max_poll_records=max_poll_records, check_crcs=check_crcs)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        count = size = 0
        started = time.perf_counter()
        while any(consumer.position(tp) < end[tp] for tp in tps):
            _deadline_check(progress.benchmark, progress.phase, deadline)
            for records in consumer.poll(timeout_ms=500).values():
                count += len(records)
                size += sum(len(r.value) for r in records)
                progress.advance(len(records))
        return count, size, time.perf_counter() - started
    finally:
        consumer.close()


def kafka_read_ceiling(
    settings: Settings,
    messages: int = 100_000,
    partitions: int = 6,
    value_size: int = payloads.EVENT_SIZE,
    *,
    max_poll_records: int = 2000,
    crc_modes: tuple[bool, ...] = (True, False),
    per_transaction: int = 500,
    tuning: ProducerTuning = ProducerTuning(),
    timeout_s: float = 600.0,
) -> Result:
    """Bare read_committed read of ``messages`` records of ``value_size`` bytes.

    The topic (``partitions`` partitions) is first written with ``tuning``, transactionally, in
    transactions of ``per_transaction`` records, like the writer leaves ``<prefix>.events``.
    Then it is read once per ``check_crcs`` value in ``crc_modes`` by a fresh consumer without a
    group (all partitions assigned), from the beginning until its position reaches the end
    offsets.
    """
    name = "kafka-read-ceiling"
    result = Result(
        name,
        params={
            "messages": messages,
            "partitions": partitions,
            "value_size": value_size,
            "max_poll_records": max_poll_records,
            "crc_modes": list(crc_modes),
            "per_transaction": per_transaction,
            **asdict(tuning),
        },
    )
    deadline = time.monotonic() + timeout_s
    with scratch_topics(settings, partitions) as scratch:
        topic = scratch.topic("events")
        prefill_s = prefill(
            scratch,
            topic,
            _event_bodies(messages, max(1, messages // 10), value_size),
            messages,
            benchmark=name,
            tuning=tuning,
            per_transaction=per_transaction,
            timeout_s=timeout_s / 2,
        )
        for check_crcs in crc_modes:
            progress = Progress(name, f"read check_crcs={check_crcs}", messages)
            count, size, wall = read_to_end(
                scratch,
                topic,
                partitions,
                max_poll_records=max_poll_records,
                check_crcs=check_crcs,
                progress=progress,
                deadline=deadline,
            )
            progress.finish()
            check = "ok" if count == messages else f"MISMATCH read {count}"
            label = f"check_crcs={check_crcs}"
            result.add(
                f"messages ({label})",
                rate(count, wall),
                "msg/s",
                f"max_poll_records={max_poll_records}; {wall:.1f} s; check {check}",
            )
            result.add(f"values ({label})", rate(size, wall) / MB, "MB/s", f"{value_size} B values")
    result.add(
        "prefill",
        rate(messages, prefill_s),
        "msg/s",
        f"transactional, {per_transaction}/txn; {tuning.describe()}",
    )
    return result


@dataclass
class _LatencyRun:
    """Shared state of one latency run: schedule, clients, outcomes."""

    topic: str
    partitions: int
    body: bytes
    keys: list[bytes]
    total: int
    interval_ns: int
    start_ns: int
    deadline: float
    txn_timeout_s: float
    stop: threading.Event
    latencies_ms: list[float]
    round_trips_ms: list[float]
    commits_ms: list[float]
    errors: list[BaseException]

    def produce(self, producer: Any, slot: int, producers: int, progress: Progress) -> None:
        """Send messages ``slot, slot + producers, ...`` on schedule, one transaction each."""
        try:
            for index in range(slot, self.total, producers):
                due = self.start_ns + index * self.interval_ns
                wait = (due - time.perf_counter_ns()) / 1e9
                if wait > 0:
                    time.sleep(wait)
                if self.stop.is_set():
                    return
                _deadline_check(progress.benchmark, "produce", self.deadline)
                sent = time.perf_counter_ns()
                producer.begin_transaction()
                producer.send(
                    self.topic,
                    self.body,
                    self.keys[index % len(self.keys)],
                    headers=[("due", str(due).encode()), ("sent", str(sent).encode())],
                    partition=slot % self.partitions,
                )
                started = time.perf_counter()
                transactions.commit(producer, timeout_s=self.txn_timeout_s)
                self.commits_ms.append((time.perf_counter() - started) * 1000)
                progress.advance()
        except BaseException as exc:  # handed to the main thread
            self.errors.append(exc)
            self.stop.set()

    def consume(self, consumer: Any) -> None:
        """Time every arrival against its scheduled send time until all arrived or stopped."""
        try:
            received = 0
            while received < self.total and not self.stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    now = time.perf_counter_ns()
                    for record in records:
                        headers = dict(record.headers)
                        self.latencies_ms.append((now - int(headers["due"])) / 1e6)
                        self.round_trips_ms.append((now - int(headers["sent"])) / 1e6)
                    received += len(records)
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()


def kafka_latency_ceiling(
    settings: Settings,
    rate_per_s: float = 500.0,
    duration_s: float = 10.0,
    partitions: int = 6,
    value_size: int = payloads.EVENT_SIZE,
    *,
    producers: int = 1,
    fetch_max_wait_ms: int = 500,
    tuning: ProducerTuning = ProducerTuning(
        linger_ms=0, batch_size=16 * 1024, compression_type=None
    ),
    txn_timeout_s: float = 30.0,
    timeout_s: float = 120.0,
) -> Result:
    """Produce -> consume round trip, one message per transaction, at a steady offered rate.

    ``producers`` transactional producers (one thread each, interleaved schedule) offer
    ``rate_per_s`` messages in total for ``duration_s``; a read_committed consumer (assigned all
    partitions, positioned at the end) reads them in another thread; producer ``i`` writes to
    partition ``i % partitions``. Latency runs from each
    message's *scheduled* send time to the poll that returns it, so a producer falling behind
    shows as latency (no coordinated omission). Producers use ``linger_ms=0``.
    """
    name = "kafka-latency-ceiling"
    total = max(1, round(rate_per_s * duration_s))
    result = Result(
        name,
        params={
            "rate_per_s": rate_per_s,
            "duration_s": duration_s,
            "partitions": partitions,
            "value_size": value_size,
            "producers": producers,
            "fetch_max_wait_ms": fetch_max_wait_ms,
            **asdict(tuning),
        },
    )
    with scratch_topics(settings, partitions) as scratch:
        topic = scratch.topic("events")
        keys = _keys(max(1, total // 10))
        consumer = _consumer(scratch, fetch_max_wait_ms=fetch_max_wait_ms)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the positions now, not while the clock runs
            consumer.position(tp)
        clients = [
            _producer(scratch, tuning, transactional_id=f"{scratch.topic_prefix}-lat-{i}")
            for i in range(producers)
        ]
        run = _LatencyRun(
            topic=topic,
            partitions=partitions,
            body=next(_event_bodies(1, 1, value_size))[1],
            keys=keys,
            total=total,
            interval_ns=int(1e9 / rate_per_s),
            start_ns=0,
            deadline=time.monotonic() + timeout_s,
            txn_timeout_s=txn_timeout_s,
            stop=threading.Event(),
            latencies_ms=[],
            round_trips_ms=[],
            commits_ms=[],
            errors=[],
        )
        try:
            for client in clients:
                client.init_transactions()
            progress = Progress(name, "produce", total)
            run.start_ns = time.perf_counter_ns() + 100_000_000
            threads = [threading.Thread(target=run.consume, args=(consumer,), daemon=True)]
            threads += [
                threading.Thread(target=run.produce, args=(c, i, producers, progress), daemon=True)
                for i, c in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads[1:]:
                thread.join()
            produced_ns = time.perf_counter_ns()
            grace = min(_ARRIVAL_GRACE_S, max(0.0, run.deadline - time.monotonic()))
            threads[0].join(grace)  # the last messages' round trip, or give up
            run.stop.set()
            threads[0].join(1.0)
            progress.finish()
            if run.errors:
                raise run.errors[0]
        finally:
            run.stop.set()
            for client in clients:
                client.close(timeout=5)
            consumer.close()
    _latency_metrics(result, run, (produced_ns - run.start_ns) / 1e9)
    return result


def _latency_metrics(result: Result, run: _LatencyRun, producing_s: float) -> None:
    params = result.params
    received = len(run.latencies_ms)
    check = "ok" if received == run.total else f"MISMATCH received {received}/{run.total}"
    achieved = rate(run.total, producing_s)
    result.add(
        "offered",
        params["rate_per_s"],
        "msg/s",
        f"{params['producers']} txn producer(s), producer i -> partition i, 1 msg/txn",
    )
    overloaded = achieved < 0.95 * params["rate_per_s"]
    result.add(
        "achieved",
        achieved,
        "msg/s",
        f"{run.total} msgs; check {check}" + ("; NOT sustained" if overloaded else ""),
    )
    if run.round_trips_ms:
        trips = run.round_trips_ms
        note = (
            f"begin_transaction -> consumer poll; fetch_max_wait_ms={params['fetch_max_wait_ms']}"
            f", retry_backoff_ms={params['retry_backoff_ms']}"
        )
        result.add("round trip p50", percentile(trips, 50), "ms", note)
        result.add("round trip p99", percentile(trips, 99), "ms")
        result.add("round trip max", max(trips), "ms")
    if run.latencies_ms:
        lat = run.latencies_ms
        note = "scheduled send -> consumer poll (incl. queueing behind the schedule)"
        result.add("latency p50", percentile(lat, 50), "ms", note)
        result.add("latency p99", percentile(lat, 99), "ms")
        result.add("latency max", max(lat), "ms")
    if run.commits_ms:
        commits = run.commits_ms
        result.add(
            "commit p50",
            percentile(commits, 50),
            "ms",
            "bounded commit (messaging.transactions)",
        )
        result.add("commit p99", percentile(commits, 99), "ms")
