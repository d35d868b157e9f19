"""Events for the projection replay benchmark: decided from realistic commands by the real
domain, optionally with their personal fields sealed as a front door seals them, and published
to a scratch events topic by one transactional producer (:mod:`~supportes.bench.projection_bench`
step 1)."""

from __future__ import annotations

import functools
import itertools
import sys
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from supportes.aggregates import (
    AnyAggregate,
    Case,
    CaseStatus,
    Rejection,
    canonical_json,
    decide,
    last_hash_of,
    parse_command,
)
from supportes.bench.kafka_ceilings import TXN_TIMEOUT_S, BenchTimeoutError
from supportes.bench.progress import Progress
from supportes.bench.replay_helpers import (
    short_count,
)
from supportes.messaging.clients import Component, transactional_producer
from supportes.messaging.guard import guarded
from supportes.messaging.routing import key_of, partition_for
from supportes.privacy.cipher import new_data_key
from supportes.privacy.keystore import SubjectKey
from supportes.privacy.sealing import (
    carries_personal_data,
    seal_command,
    subject_of_new_case,
)
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

NAME = "projection-replay"
PER_TRANSACTION = 500
CACHE_SIZE = 20_000
"""Aggregates kept while deciding (closed cases leave at once), as the writer's cache."""
MIN_RATE = 500.0
"""Events/s below which a phase counts as hung: its time bound is 120 s + events / MIN_RATE."""


def bound_s(events: int) -> float:
    """How long a phase over ``events`` may take before it counts as hung."""
    return 120.0 + events / MIN_RATE


# -- 1. events from the domain -------------------------------------------------------------------


@dataclass
class DomainStats:
    """What deciding the generated commands did."""

    commands: int = 0
    rejected: int = 0
    follow_ons: int = 0
    events: int = 0


@dataclass
class Sealing:
    """Seals commands' personal fields as a front door does, with per-customer keys kept here.

    An ``OpenCase`` binds its case to its customer; a later command of the case is sealed with
    that customer's key (made on first use, in memory: :attr:`keys` is what a key store would
    hold). A case leaves once it is closed (:meth:`forget`), so memory stays bounded by the
    customers.
    """

    keys: dict[str, SubjectKey] = field(default_factory=dict)
    """Subject (customer id) -> its key."""
    sealed: int = 0
    """Commands whose personal fields were sealed."""
    unsealed: int = 0
    """Commands with personal fields left in plaintext (their case's customer unknown)."""
    _subjects: dict[str, str] = field(default_factory=dict)

    def seal(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """``envelope`` with its personal fields sealed with its case customer's key."""
        case_id = str(envelope["aggregate_id"])
        subject = subject_of_new_case(envelope)
        if subject is not None:
            subject = self._subjects.setdefault(case_id, subject)
        else:
            subject = self._subjects.get(case_id)
        if not carries_personal_data(envelope):
            return envelope
        if subject is None:
            self.unsealed += 1
            return envelope
        key = self.keys.get(subject)
        if key is None:
            key = self.keys[subject] = SubjectKey(str(uuid.uuid4()), subject, new_data_key())
        self.sealed += 1
        return seal_command(envelope, key)

    def forget(self, case_id: UUID) -> None:
        """The case is closed: its commands are over."""
        self._subjects.pop(str(case_id), None)


class DomainEvents:
    """An endless stream of sealed event envelopes decided from realistic commands.

    Deterministic for a seed (but for the keys when ``sealing``). Memory stays bounded: the
    generator keeps only its active cases, and at most ``cache_size`` aggregates are kept here
    (a case leaves when it is closed). With ``sealing``, each generated command's personal
    fields are sealed before it is decided, as a front door seals them (follow-on commands are
    the domain's: they copy what they carry).
    """

    def __init__(
        self,
        seed: int = 2026,
        *,
        audit_key: bytes | None = None,
        cache_size: int = CACHE_SIZE,
        sealing: Sealing | None = None,
    ) -> None:
        self.traffic = TrafficGenerator(seed=seed)
        self.audit_key = audit_key
        self.cache_size = cache_size
        self.sealing = sealing
        self.stats = DomainStats()
        self._cache: OrderedDict[UUID, AnyAggregate] = OrderedDict()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seal = self.sealing.seal if self.sealing is not None else None
        for raw in self.traffic.commands(sys.maxsize):
            pending: deque[dict[str, Any]] = deque([raw if seal is None else seal(raw)])
            while pending:
                yield from self._decide(pending.popleft(), pending)

    def _decide(self, raw: dict[str, Any], pending: deque[dict[str, Any]]) -> list[dict[str, Any]]:
        self.stats.commands += 1
        try:
            command = parse_command(raw)
            current = self._cache.get(command.aggregate_id)
            decision = decide(
                command, current, last_hash=last_hash_of(current), audit_key=self.audit_key
            )
        except Rejection:
            self.stats.rejected += 1
            return []
        aggregate = decision.aggregate
        if isinstance(aggregate, Case) and aggregate.status is CaseStatus.CLOSED:
            self._cache.pop(command.aggregate_id, None)
            if self.sealing is not None:
                self.sealing.forget(command.aggregate_id)
        else:
            self._cache[command.aggregate_id] = aggregate
            self._cache.move_to_end(command.aggregate_id)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        pending.extend(decision.follow_on_commands)
        self.stats.follow_ons += len(decision.follow_on_commands)
        self.stats.events += len(decision.events)
        return decision.events


@dataclass
class Published:
    """What the generate+publish phases wrote, summed over the phases."""

    events: int = 0
    value_bytes: int = 0
    transactions: int = 0
    seconds: float = 0.0


def publish(
    settings: Settings,
    events: Iterator[dict[str, Any]],
    count: int,
    published: Published,
    *,
    per_transaction: int = PER_TRANSACTION,
    label: str = "",
) -> None:
    """Take ``count`` envelopes from ``events`` and write them to ``<prefix>.events``.

    One transactional producer (the writer's settings), ``per_transaction`` events per
    transaction, each event on its aggregate's partition. Adds to ``published``.
    """
    topic = settings.topic("events")
    partition = functools.lru_cache(maxsize=65_536)(
        functools.partial(partition_for, partitions=settings.partitions)
    )
    producer = transactional_producer(
        settings, Component.ADMIN, f"{settings.topic_prefix}-generate"
    )
    progress = Progress(NAME, f"generate+publish {short_count(count)}{label}", count)
    deadline = time.monotonic() + bound_s(count)
    try:
        guarded(producer.init_transactions, timeout_s=TXN_TIMEOUT_S, what="init_transactions")
        started = time.perf_counter()
        in_transaction = sent = 0
        for envelope in itertools.islice(events, count):
            if in_transaction == 0:
                producer.begin_transaction()
            aggregate_id = envelope["aggregate_id"]
            value = canonical_json(envelope)
            producer.send(
                topic, value=value, key=key_of(aggregate_id), partition=partition(aggregate_id)
            )
            published.value_bytes += len(value)
            in_transaction += 1
            sent += 1
            if in_transaction == per_transaction:
                guarded(producer.commit_transaction, timeout_s=TXN_TIMEOUT_S, what="commit")
                published.transactions += 1
                in_transaction = 0
                progress.advance(per_transaction)
                if time.monotonic() > deadline:
                    raise BenchTimeoutError(f"{NAME}: generate+publish did not finish in time")
        if in_transaction:
            guarded(producer.commit_transaction, timeout_s=TXN_TIMEOUT_S, what="commit")
            published.transactions += 1
        published.seconds += time.perf_counter() - started
        published.events += sent
        progress.done = sent
        progress.finish()
    finally:
        producer.close(timeout=5)
    if sent != count:
        raise RuntimeError(f"{NAME}: the event stream ended after {sent} of {count} events")
