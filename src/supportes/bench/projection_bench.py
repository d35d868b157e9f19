"""The projection replay benchmark (issue 5): realistic events replayed into every projection.

1. **Events from the domain.** The traffic generator's commands go through ``parse_command`` and
   ``decide`` (follow-on commands such as ``AttachCase`` are decided too), against aggregates
   cached the way the writer caches them; only the sealed wire envelopes are kept. They are
   streamed (never all in memory) to a scratch events topic by ONE transactional producer, on
   their aggregates' partitions (``partition_for``), keyed by aggregate id, values
   ``canonical_json(envelope)``, 500 events per transaction.
2. **Replay.** ``supportes projections rebuild`` runs as a child process against a fresh, migrated
   scratch database: one projector process, all projections, from offset 0 to the end of the
   log into a shadow schema, then swapped in. Events and seconds come from the child's own
   ``rebuild swapped in`` log line (the interpreter's start is not in them). Its memory is
   sampled from ``/proc/<pid>/status`` every :data:`SAMPLE_EVERY_S`: ``VmRSS`` along the way,
   and the peak is the highest ``VmHWM`` seen (the child's own high-water mark since its
   ``exec``). Not ``ru_maxrss``: Linux carries the high-water mark of the memory a child had
   before ``exec`` into it, and that memory was this benchmark process's (a child sleeping
   0.3 s under a parent holding 500 MiB reports ``ru_maxrss`` 510 MiB, ``VmHWM`` 9 MiB).
3. **Ceilings on the same data.** A bare kafka-python read_committed read of the same topic
   (:func:`~supportes.bench.kafka_ceilings.read_to_end`) and
   :func:`~supportes.bench.pg_ceilings.pg_copy_ceiling` with as many timeline-shaped rows as
   there are events.

Two points: 10 % of the size, then the full size. Between them the same event stream goes on
into the same topic, and the full log is replayed again from offset 0 into a new database, so
the two points differ only in the number of events (memory flat = the same peak RSS).

4. **Encryption on (issue 16), at the first point's size.** The same seed's events again, each
   command's personal fields sealed before ``decide`` (:class:`Sealing`: per-customer keys in
   memory, as a front door would seal with the customer's key), into a topic of their own; the
   keys, wrapped by the KEK, go into the replay database's ``privacy.subject_keys`` after its
   migration, and the child gets ``SUPPORTES_KEK_FILE``. Plain and sealed are replayed
   :data:`SEALED_ROUNDS` times each, in alternating order (the first plain replay is the
   point's own); the ratio is the median of the rounds' ratios. The sealed replays must leave
   the same case texts as the plain ones (a digest of ``proj.case_view``'s personal columns)
   and none masked: a replay that cannot open (keys missing) would mask fast, and wrongly.
"""

from __future__ import annotations

import functools
import itertools
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
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
from supportes.aggregates.personal import PERSONAL
from supportes.bench.kafka_ceilings import TXN_TIMEOUT_S, BenchTimeoutError, read_to_end
from supportes.bench.pg_ceilings import pg_copy_ceiling
from supportes.bench.progress import Progress
from supportes.bench.replay_helpers import (
    KIB_PER_MIB,
    growth_pct,
    parse_log_line,
    parse_proc_status,
    rss_when,
    short_count,
    steady_rss,
    tenths,
)
from supportes.bench.results import Result
from supportes.bench.scratch import child_env, scratch_database, scratch_topics
from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.clients import Component, transactional_producer
from supportes.messaging.guard import guarded
from supportes.messaging.routing import key_of, partition_for
from supportes.privacy.cipher import new_data_key
from supportes.privacy.kek import FileKeyWrapper
from supportes.privacy.keystore import SubjectKey
from supportes.privacy.sealing import (
    UNREADABLE,
    carries_personal_data,
    seal_command,
    subject_of_new_case,
)
from supportes.projections.registry import all_projections
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

NAME = "projection-replay"
PER_TRANSACTION = 500
CACHE_SIZE = 20_000
"""Aggregates kept while deciding (closed cases leave at once), as the writer's cache."""
MIN_RATE = 500.0
"""Events/s below which a phase counts as hung: its time bound is 120 s + events / MIN_RATE."""
SAMPLE_EVERY_S = 0.2
TARGET = 20_000
SEALED_ROUNDS = 2
"""Plain and sealed replays at the first point's size, alternating (plain, sealed, sealed,
plain: the mean of the two rounds' ratios). Each round adds ~25 s at the default scale; with
the sealed stream's generation (~40 s) the comparison adds ~1.5 min to the benchmark."""
SEALED_TARGET_PCT = 90.0
"""Issue 16: replay with personal fields sealed at >= 90 % of the plaintext speed."""
MASKS = (PERSONAL.mask, UNREADABLE)
"""What a personal field reads as when it could not be opened."""


def _bound_s(events: int) -> float:
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
    deadline = time.monotonic() + _bound_s(count)
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


# -- 2. replay in a child process ----------------------------------------------------------------


@dataclass
class Replay:
    """One ``supportes projections rebuild`` child: what it said and what it used."""

    events: int
    seconds: float
    wall_s: float
    peak_rss_kib: int
    samples: list[tuple[int, int]]
    batches: int
    batch_ms: list[float]
    peak_at: int
    parked: int = 0
    timeline_rows: int = 0
    projection_rows: int = 0
    reported_rate: float = 0.0
    """The child's own ``events_per_second`` (``seconds`` is rounded to 0.1 s in its log)."""
    cpu_s: float = 0.0
    """CPU seconds (user + system) of the whole child, its start-up included."""
    cases: int = 0
    masked: int = 0
    """Cases whose personal texts in ``proj.case_view`` read as a mask (not opened)."""
    texts_digest: str = ""
    """md5 of ``proj.case_view``'s personal texts, by case: equal for equal plaintext."""

    @property
    def events_per_s(self) -> float:
        """Replay speed by the child's own clock."""
        return self.reported_rate or rate(self.events, self.seconds)


@dataclass
class _ChildLog:
    """Reads the child's JSON log lines: progress, batch counts, the final report."""

    stream: IO[bytes]
    progress: Progress
    done: int = 0
    batches: int = 0
    batch_ms: list[float] = field(default_factory=list)
    report: dict[str, Any] | None = None
    peak_kib: int = 0
    peak_at: int = 0
    cpu_s: float = 0.0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode(errors="replace").rstrip()
            record = parse_log_line(line)
            if record is None:
                if line:
                    self.tail.append(line)
                continue
            message = record.get("event")
            if message == "batch projected":
                events = int(record.get("events", 0))
                self.batches += 1
                self.done += events
                self.batch_ms.append(float(record.get("duration_ms", 0.0)))
                self.progress.advance(events)
            elif message == "rebuild swapped in":
                self.report = record
            elif record.get("level") in ("warning", "error", "critical"):
                self.tail.append(line)


def _child_env(scratch: Settings, dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        **child_env(scratch),
        "SUPPORTES_PG_DSN": dsn,
        "SUPPORTES_KEK_FILE": str(scratch.kek_path),
        "SUPPORTES_LOG_FORMAT": "json",
        "SUPPORTES_LOG_LEVEL": "info",
    }


def _memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS``/``VmHWM`` of a running process (empty once it is gone or a zombie)."""
    try:
        return parse_proc_status(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return {}


def _reap(
    process: subprocess.Popen[bytes],
    log: _ChildLog,
    samples: list[tuple[int, int]],
    deadline: float,
) -> int:
    """Wait for the child, sampling ``(events done, VmRSS)`` and its peak ``VmHWM`` into
    ``log``; return its exit code (and its CPU seconds, user + system, in ``log.cpu_s``)."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code  # reaped here: Popen must not wait for it again
            log.cpu_s = usage.ru_utime + usage.ru_stime
            return code
        memory = _memory_kib(process.pid)
        if memory.get("VmRSS"):
            samples.append((log.done, memory["VmRSS"]))
        if memory.get("VmHWM", 0) > log.peak_kib:
            log.peak_kib, log.peak_at = memory["VmHWM"], log.done
        if time.monotonic() > deadline:
            raise BenchTimeoutError(f"{NAME}: the replay did not finish in time")
        time.sleep(SAMPLE_EVERY_S)


def replay_in_child(scratch: Settings, dsn: str, events: int, *, label: str = "") -> Replay:
    """Run ``supportes projections rebuild`` on ``scratch``'s topics into ``dsn``; measure it."""
    command = [str(Path(sys.executable).parent / "supportes"), "projections", "rebuild"]
    progress = Progress(NAME, f"replay {short_count(events)}{label} (child process)", events)
    samples: list[tuple[int, int]] = []
    began = time.monotonic()
    process = subprocess.Popen(
        command, env=_child_env(scratch, dsn), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    log = _ChildLog(process.stdout, progress)
    reader = threading.Thread(target=log.run, name="replay-log", daemon=True)
    reader.start()
    try:
        code = _reap(process, log, samples, began + _bound_s(events))
    except BaseException:
        if process.returncode is None:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -9
        raise
    finally:
        wall = time.monotonic() - began
        reader.join(10)
        process.stdout.close()
    progress.finish()
    report = log.report
    if code != 0 or report is None:
        tail = " | ".join(list(log.tail)[-3:])
        raise RuntimeError(f"{NAME}: `supportes projections rebuild` exited {code}: {tail}")
    replay = Replay(
        events=int(report["events"]),
        seconds=float(report["seconds"]),
        wall_s=wall,
        peak_rss_kib=log.peak_kib,
        samples=samples,
        batches=log.batches,
        batch_ms=log.batch_ms,
        peak_at=log.peak_at,
        reported_rate=float(report.get("events_per_second") or 0.0),
        cpu_s=log.cpu_s,
    )
    _count_rows(dsn, replay)
    return replay


_CASE_TEXTS = """
SELECT count(*),
       count(*) FILTER (WHERE subject = ANY(%(masks)s) OR description = ANY(%(masks)s)
                           OR resolution = ANY(%(masks)s)),
       coalesce(md5(string_agg(concat_ws(chr(31), case_id::text, subject, description,
                                         resolution), chr(30) ORDER BY case_id)), '')
FROM proj.case_view
"""


def _count_rows(dsn: str, replay: Replay) -> None:
    """Rows the replay left in ``proj``: timeline rows (one per event), all rows, parked; and
    its cases' personal texts (masked ones, a digest)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            counts: dict[str, int] = {}
            for table in [t for p in all_projections() for t in p.tables] + ["parked_events"]:
                cur.execute(f'SELECT count(*) FROM proj."{table}"')
                row = cur.fetchone()
                counts[table] = int(row[0]) if row else 0
            cur.execute(_CASE_TEXTS, {"masks": list(MASKS)})
            texts = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    replay.parked = counts.pop("parked_events")
    if texts is not None:
        replay.cases, replay.masked, replay.texts_digest = int(texts[0]), int(texts[1]), texts[2]
    replay.timeline_rows = counts["case_timeline"] + counts["root_cause_timeline"]
    replay.projection_rows = sum(counts.values())


# -- 3. ceilings on the same data ----------------------------------------------------------------


@dataclass(frozen=True)
class Ceilings:
    """Bare kafka-python read of the same topic; bare COPY of as many rows."""

    read_per_s: float
    read_note: str
    copy_per_s: float
    copy_batched_per_s: float
    batch_rows: int


def ceilings(settings: Settings, scratch: Settings, events: int) -> Ceilings:
    """Read the scratch events topic bare, then ``pg_copy_ceiling`` with ``events`` rows."""
    progress = Progress(NAME, f"bare read {short_count(events)}", events)
    count, size, wall = read_to_end(
        scratch,
        scratch.topic("events"),
        scratch.partitions,
        max_poll_records=settings.projector_batch,
        check_crcs=True,
        progress=progress,
        deadline=time.monotonic() + _bound_s(events),
    )
    progress.finish()
    check = "ok" if count == events else f"MISMATCH read {count:,}"
    copy = pg_copy_ceiling(
        settings, rows=events, batch_rows=settings.projector_batch, timeout_s=_bound_s(events)
    )
    return Ceilings(
        read_per_s=rate(count, wall),
        read_note=f"{size / count if count else 0:.0f} B values, {wall:.1f} s; check {check}",
        copy_per_s=copy.value("rows (one COPY)"),
        copy_batched_per_s=copy.value(f"rows (COPY+COMMIT per {settings.projector_batch})"),
        batch_rows=settings.projector_batch,
    )


# -- the benchmark -------------------------------------------------------------------------------


def projection_replay(settings: Settings, events: int, *, seed: int = 2026) -> Result:
    """Replay 10 % of ``events``, then all of them, into every projection; ceilings beside."""
    sizes = [max(1000, round(events / 10)), events]
    result = Result(
        NAME,
        params={
            "events": sizes,
            "partitions": settings.partitions,
            "per_transaction": PER_TRANSACTION,
            "seed": seed,
        },
    )
    audit_key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
    wrapper = FileKeyWrapper.from_settings(settings)  # before the long work: a missing KEK fails
    domain = DomainEvents(seed, audit_key=audit_key)
    stream = iter(domain)
    published = Published()
    points: list[tuple[int, Replay, Ceilings]] = []
    comparison: SealedComparison | None = None
    with scratch_topics(settings) as scratch:
        for size in sizes:
            publish(scratch, stream, size - published.events, published)
            with scratch_database(settings) as dsn:
                migrate_database(dsn)
                replay = replay_in_child(scratch, dsn, size)
            if comparison is None:  # the first point's log, before it grows
                comparison = sealed_comparison(
                    settings, scratch, size, replay, seed=seed, audit_key=audit_key, wrapper=wrapper
                )
            points.append((size, replay, ceilings(settings, scratch, size)))
    for size, replay, ceiling in points:
        _point_metrics(result, size, replay, ceiling)
    _summary_metrics(result, points, published, domain.stats)
    if comparison is not None:
        _sealed_metrics(result, comparison)
    return result


# -- 4. encryption on: the same events sealed ----------------------------------------------------


@dataclass
class SealedComparison:
    """Plain and sealed replays of the same seed's first ``size`` events, round by round."""

    size: int
    plain: list[Replay]
    sealed: list[Replay]
    published: Published
    keys: int
    sealing: Sealing


def insert_keys(dsn: str, keys: list[SubjectKey], wrapper: FileKeyWrapper) -> None:
    """Store ``keys`` wrapped by ``wrapper`` in ``privacy.subject_keys`` (as a key store made
    them on first use)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id)"
                " VALUES (%s::uuid, %s, %s, %s)",
                [(k.kid, k.subject, wrapper.wrap(k.key), wrapper.kek_id) for k in keys],
            )
        conn.commit()
    finally:
        conn.close()


def sealed_comparison(
    settings: Settings,
    plain_scratch: Settings,
    size: int,
    first_plain: Replay,
    *,
    seed: int,
    audit_key: bytes | None,
    wrapper: FileKeyWrapper,
    rounds: int = SEALED_ROUNDS,
) -> SealedComparison:
    """Publish the first ``size`` events of ``seed`` sealed to topics of their own; replay them
    and ``plain_scratch``'s (which holds the same events in plaintext) ``rounds`` times each,
    alternating; ``first_plain`` is the first round's plain replay. The keys are stored
    wrapped by ``wrapper`` (the KEK the child reads from ``SUPPORTES_KEK_FILE``)."""
    sealing = Sealing()
    domain = DomainEvents(seed, audit_key=audit_key, sealing=sealing)
    published = Published()
    plain = [first_plain]
    sealed: list[Replay] = []
    with scratch_topics(settings) as scratch:
        publish(scratch, iter(domain), size, published, label=" sealed")
        keys = list(sealing.keys.values())
        for number in range(rounds):
            order = (False, True) if number % 2 == 0 else (True, False)
            for with_keys in order:
                if number == 0 and not with_keys:
                    continue  # the point's own replay
                label = f" {'sealed' if with_keys else 'plain'} {number + 1}/{rounds}"
                with scratch_database(settings) as dsn:
                    migrate_database(dsn)
                    if with_keys:
                        insert_keys(dsn, keys, wrapper)
                        sealed.append(replay_in_child(scratch, dsn, size, label=label))
                    else:
                        plain.append(replay_in_child(plain_scratch, dsn, size, label=label))
    return SealedComparison(size, plain, sealed, published, len(keys), sealing)


def _sealed_check(comparison: SealedComparison) -> str:
    """``ok``, or what is wrong with the sealed replays (beside the first plain one)."""
    size, plain = comparison.size, comparison.plain[0]
    problems = []
    for replay in comparison.sealed:
        if replay.events != size or replay.timeline_rows != size or replay.parked:
            problems.append(
                f"events {replay.events:,}, timeline rows {replay.timeline_rows:,},"
                f" parked {replay.parked:,}"
            )
        if replay.masked:
            problems.append(f"{replay.masked:,} of {replay.cases:,} cases masked (keys missing?)")
        if replay.texts_digest != plain.texts_digest or replay.cases != plain.cases:
            problems.append("case texts differ from the plain replay's")
    if comparison.sealing.sealed == 0 or comparison.sealing.unsealed:
        problems.append(
            f"{comparison.sealing.sealed:,} commands sealed,"
            f" {comparison.sealing.unsealed:,} left in plaintext"
        )
    return "ok" if not problems else "MISMATCH " + "; ".join(dict.fromkeys(problems))


def _sealed_metrics(result: Result, comparison: SealedComparison) -> None:
    label = short_count(comparison.size)
    plain = [r.events_per_s for r in comparison.plain]
    sealed = [r.events_per_s for r in comparison.sealed]
    runs = ", ".join(f"{v:,.0f}" for v in sealed)
    result.add(
        f"replay {label} (sealed)",
        statistics.median(sealed),
        "events/s",
        f"median of {len(sealed)} rebuilds of the same events, personal fields sealed"
        f" ({comparison.sealing.sealed:,} commands, {comparison.keys:,} customers' keys in"
        f" privacy.subject_keys); runs {runs}; check {_sealed_check(comparison)}",
    )
    result.add(
        f"replay {label} (plain)",
        statistics.median(plain),
        "events/s",
        f"median of {len(plain)} rebuilds, alternating with the sealed ones (the first is"
        f" 'replay {label}'); runs {', '.join(f'{v:,.0f}' for v in plain)}",
    )
    ratios = [100 * rate(s, p) for p, s in zip(plain, sealed, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= SEALED_TARGET_PCT else "NOT met"
    result.add(
        f"sealed / plain {label}",
        ratio,
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)});"
        f" target >= {SEALED_TARGET_PCT:.0f}% (issue 16): {verdict}",
    )
    pairs = zip(comparison.plain, comparison.sealed, strict=True)
    cpu = [100 * rate(p.cpu_s, s.cpu_s) for p, s in pairs]
    if cpu and all(cpu):
        result.add(
            f"sealed / plain CPU {label}",
            statistics.median(cpu),
            "%",
            "plain child's CPU s / sealed child's (user + system, start-up included; less"
            f" swayed by other load than the rates): {', '.join(f'{c:.1f}' for c in cpu)}",
        )
    result.add(
        f"peak RSS {label} (sealed)",
        max(r.peak_rss_kib for r in comparison.sealed) / KIB_PER_MIB,
        "MiB",
        f"highest VmHWM of the sealed rebuilds; plain:"
        f" {max(r.peak_rss_kib for r in comparison.plain) / KIB_PER_MIB:.0f} MiB",
    )
    published = comparison.published
    result.add(
        "generate+publish (sealed)",
        rate(published.events, published.seconds),
        "events/s",
        f"{published.events:,} events; seal (in memory) + decide + canonical_json,"
        f" avg {published.value_bytes / max(1, published.events):.0f} B",
    )


def _point_metrics(result: Result, size: int, replay: Replay, ceiling: Ceilings) -> None:
    label = short_count(size)
    ok = replay.events == size and replay.timeline_rows == size and replay.parked == 0
    check = (
        "ok"
        if ok
        else (
            f"MISMATCH events {replay.events:,}, timeline rows {replay.timeline_rows:,},"
            f" parked {replay.parked:,}"
        )
    )
    speed = replay.events_per_s
    result.add(
        f"replay {label}",
        speed,
        "events/s",
        f"1 rebuild process, all projections; {replay.seconds:.1f} s own clock"
        f" (process {replay.wall_s:.1f} s); check {check}",
    )
    along = [
        "-" if rss is None else f"{rss / KIB_PER_MIB:.0f}"
        for rss in (rss_when(replay.samples, size * q // 4) for q in (1, 2, 3, 4))
    ]
    result.add(
        f"peak RSS {label}",
        replay.peak_rss_kib / KIB_PER_MIB,
        "MiB",
        f"child's VmHWM, sampled every {SAMPLE_EVERY_S:g} s; reached with"
        f" {replay.peak_at:,} events done",
    )
    steady = steady_rss(replay.samples, size // 10)
    result.add(
        f"steady RSS {label}",
        (steady or 0) / KIB_PER_MIB,
        "MiB",
        f"median of {len(replay.samples)} VmRSS samples after 10% of the events;"
        f" at 25/50/75/100%: {'/'.join(along)} MiB",
    )
    if replay.batch_ms:
        first, last = tenths(replay.batch_ms)
        result.add(
            f"batch time {label}",
            sum(replay.batch_ms) / len(replay.batch_ms),
            "ms",
            f"mean of {len(replay.batch_ms)} batches; first/last 10%: {first:.0f}/{last:.0f} ms",
        )
    result.add(
        f"rows written {label}",
        replay.projection_rows / size if size else 0,
        "rows/event",
        f"{replay.projection_rows:,} rows in proj tables after the replay",
    )
    result.add(
        f"kafka read {label}",
        ceiling.read_per_s,
        "msg/s",
        f"bare read_committed read of the same topic, no group; {ceiling.read_note}",
    )
    result.add(
        f"pg COPY {label}",
        ceiling.copy_per_s,
        "rows/s",
        f"{size:,} timeline-shaped rows, one COPY; per {ceiling.batch_rows} + COMMIT: "
        f"{ceiling.copy_batched_per_s:,.0f} rows/s",
    )
    result.add(
        f"replay / kafka read {label}", 100 * rate(speed, ceiling.read_per_s), "%", "of the ceiling"
    )
    result.add(
        f"replay / pg COPY {label}",
        100 * rate(speed, ceiling.copy_per_s),
        "%",
        "of one timeline row per event by one COPY",
    )


def _summary_metrics(
    result: Result,
    points: list[tuple[int, Replay, Ceilings]],
    published: Published,
    stats: DomainStats,
) -> None:
    (small, small_replay, _), (large, large_replay, _) = points[0], points[-1]
    versus = f"{short_count(large)} vs {short_count(small)} events ({large // small}x)"
    steady = [
        steady_rss(r.samples, n // 10) or 0
        for n, r in ((small, small_replay), (large, large_replay))
    ]
    result.add(
        "steady RSS growth",
        growth_pct(*steady),
        "%",
        f"{versus}, flat = ~0: {steady[0] / KIB_PER_MIB:.0f} -> {steady[1] / KIB_PER_MIB:.0f} MiB"
        " (the short replay may end before its buffers reach steady size)",
    )
    quarter, full = (
        rss_when(large_replay.samples, large // 4),
        rss_when(large_replay.samples, large),
    )
    if quarter and full:
        result.add(
            f"RSS drift in {short_count(large)}",
            growth_pct(quarter, full),
            "%",
            f"VmRSS at 100% vs 25% of the {short_count(large)} replay, flat = ~0:"
            f" {quarter / KIB_PER_MIB:.0f} -> {full / KIB_PER_MIB:.0f} MiB",
        )
    result.add(
        "peak RSS growth",
        growth_pct(small_replay.peak_rss_kib, large_replay.peak_rss_kib),
        "%",
        f"{versus}: {small_replay.peak_rss_kib / KIB_PER_MIB:.0f} ->"
        f" {large_replay.peak_rss_kib / KIB_PER_MIB:.0f} MiB, VmHWM of each child",
    )
    result.add(
        "generate+publish",
        rate(published.events, published.seconds),
        "events/s",
        f"{published.events:,} events from {stats.commands:,} commands ({stats.rejected:,}"
        f" rejected, {stats.follow_ons:,} follow-ons); decide + canonical_json,"
        f" {PER_TRANSACTION}/txn, avg {published.value_bytes / max(1, published.events):.0f} B",
    )
    speed = large_replay.events_per_s
    verdict = "met" if speed >= TARGET else "NOT met"
    result.add("target", TARGET, "events/s", f"issue 5, at {short_count(large)} events: {verdict}")
