"""Peer benchmark (issue 20, item 5): the ``eventsourcing`` library's own ``Application`` with
its PostgreSQL persistence, on the same command mix as the writer, beside supportes' writer.

The peer is what a Python team would build instead: a web request handler that loads the
aggregate from the library's repository, runs the domain rules, and ``save()``\\ s the new events
in one PostgreSQL transaction (``eventsourcing.postgres``, psycopg 3, the library's defaults: no
snapshots, no aggregate cache, pool of 5 + 10). Its rules are supportes' own: the same aggregate
classes (``Case``, ``RootCause``, ``DataSubject`` are ``eventsourcing`` aggregates, and the
library saves and reloads them as they are), the same :data:`~supportes.aggregates.dispatch.ROUTES`
handlers, the same checks in the same order as :func:`~supportes.aggregates.dispatch.decide`
(:func:`peer_decide`), the clock check, and the same follow-ons and compensations
(``LinkRootCause`` -> ``AttachCase`` on the root cause, a refused one -> ``UndoRootCauseLink``),
each one more request. ``decide`` itself is not called: it returns hashed wire envelopes, not the
event objects ``Application.save()`` takes. What the peer does not do: the audit hash chain, the
results and idempotency record, Kafka.

Throughput: the writer-throughput mix (``TrafficGenerator(seed=2026)``) decided by supportes'
writer (:func:`~supportes.bench.writer_bench.decide_prefilled`) and by the peer on
:data:`WORKERS` threads (commands routed to a thread by aggregate id, as Kafka partitions route
them, so one aggregate's commands stay in order and never conflict); the peer on one thread, and
on :data:`WORKERS` threads with ``synchronous_commit=off``, over the first
:data:`VARIANT_SHARE` of the same commands. Alternating order per round; ratios are medians of
the rounds' ratios. Latency: the writer-latency runner (a ``serve --writer`` process, send ->
result at a steady rate) beside the peer on :data:`WORKERS` threads at the same rate over the
same commands (scheduled time -> saved), the rate half the peer's measured throughput. Each peer
run has its own scratch database, dropped afterwards.

The library's PostgreSQL recorder takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` in every insert
transaction (its notification ids commit in order), so the peer's saves are serialised: more
threads overlap loading and the rules, not the commits.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any, cast
from uuid import UUID, uuid5

import psycopg2.extensions
from psycopg2 import sql

from supportes.aggregates import Rejection, compensations, parse_command
from supportes.aggregates.base import SupportAggregate
from supportes.aggregates.clock import check_issued_at
from supportes.aggregates.commands import AnyCommand, command_envelope
from supportes.aggregates.dispatch import POLICIES, AnyAggregate, checked_route
from supportes.aggregates.values import SYSTEM_ACTOR
from supportes.bench.machine import load_average
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database
from supportes.bench.stats import percentile
from supportes.bench.writer_bench import WriterRun, decide_prefilled, writer_latency
from supportes.db.connect import connect
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

NAME = "peer-eventsourcing"
WORKERS = 4
"""Peer threads (a web server's worker threads): the library's default pool holds 5 + 10
connections. Routed by aggregate id, so no two threads write one aggregate."""
ROUNDS = 2


# --- the domain rules, as the peer applies them (pure) -----------------------------------


def peer_decide(command: AnyCommand, current: AnyAggregate | None) -> AnyAggregate:
    """``command`` applied to ``current`` (mutated: the library's repository gives every request
    its own copy) or to a new aggregate, with the new events pending on it, by the checks of
    :func:`~supportes.aggregates.dispatch.decide` in its order (unknown type, already exists,
    not found / wrong type, expected version, then the aggregate's rules). Raises
    :class:`Rejection`; nothing is emitted then."""
    route = checked_route(command, current)
    if current is None:
        return cast(AnyAggregate, route.handler(command))
    route.handler(current, command)
    return current


def follow_on_envelopes(
    command: AnyCommand, events: Sequence[SupportAggregate.Event]
) -> list[dict[str, Any]]:
    """The follow-on commands of ``events`` (:data:`~supportes.aggregates.dispatch.POLICIES`),
    with the ids, time, actor and correlation :func:`~supportes.aggregates.dispatch.decide`
    gives them."""
    out: list[dict[str, Any]] = []
    for event in events:
        policy = POLICIES.get(type(event))
        for n, follow_on in enumerate(policy(event) if policy else []):
            name = f"follow-on:{event.originator_version}:{n}:{follow_on.type}"
            out.append(
                command_envelope(
                    command_id=uuid5(command.command_id, name),
                    type=follow_on.type,
                    aggregate_id=follow_on.aggregate_id,
                    issued_at=command.issued_at,
                    actor=SYSTEM_ACTOR,
                    correlation_id=command.correlation_id,
                    payload=follow_on.payload,
                )
            )
    return out


def worker_of(aggregate_id: str, workers: int) -> int:
    """The thread that handles ``aggregate_id``'s commands (stable, spread by CRC-32)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return zlib.crc32(aggregate_id.encode()) % workers


def postgres_env(dsn: str, *, pool_size: int | None = None) -> dict[str, str]:
    """The library's environment for the database of ``dsn`` (a libpq URI or key=value DSN;
    a ``passfile`` is read for the password, as libpq would)."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    password = parts.get("password") or _passfile_password(parts)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts.get("host", "127.0.0.1"),
        "POSTGRES_PORT": parts.get("port", "5432"),
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": password,
    }
    if pool_size is not None:
        env["POSTGRES_POOL_SIZE"] = str(pool_size)
    return env


def passfile_match(text: str, host: str, port: str, dbname: str, user: str) -> str:
    """The password of the first ``.pgpass`` line matching (``*`` matches anything); ""."""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(":", 4)
        if len(fields) != 5:
            continue
        wanted = (host, port, dbname, user)
        if all(f in ("*", w) for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return ""


def _passfile_password(parts: dict[str, str]) -> str:
    path = parts.get("passfile") or os.environ.get("PGPASSFILE") or ""
    if not path or not os.path.exists(path):
        return os.environ.get("PGPASSWORD", "")
    with open(path) as handle:
        return passfile_match(
            handle.read(),
            parts.get("host", "127.0.0.1"),
            parts.get("port", "5432"),
            parts.get("dbname", ""),
            parts.get("user", ""),
        )


def median_ratio(ours: Sequence[float], peers: Sequence[float]) -> float:
    """The median of the per-round ratios ``ours[i] / peers[i]`` (rounds paired in order)."""
    ratios = [a / b for a, b in zip(ours, peers, strict=True) if b > 0]
    if not ratios:
        raise ValueError("no round with a peer figure above 0")
    return median(ratios)


# --- the peer application -----------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    """What one request did."""

    accepted: bool
    events: int
    follow_ons: list[dict[str, Any]]
    load_s: float = 0.0
    """``repository.get``: read and replay the aggregate's events."""
    decide_s: float = 0.0
    """Parse, the clock check and the rules."""
    save_s: float = 0.0
    """``Application.save``: encode and insert the events, commit."""


def require_postgres_driver() -> None:
    """Raise RuntimeError naming the extra when psycopg 3's pool is not installed."""
    try:
        import psycopg_pool  # noqa: F401  (the library's PostgreSQL module needs it)
    except ImportError as exc:
        raise RuntimeError(
            "peer-eventsourcing needs the bench-peer extra: pip install -e '.[dev,bench-peer]'"
            " (make bench installs it)"
        ) from exc


def _application_class() -> type[Any]:
    """The peer ``Application`` subclass (imported late: the library's PostgreSQL module and
    psycopg 3 are a bench-only extra)."""
    from eventsourcing.application import AggregateNotFoundError, Application

    class SupportPeer(Application[UUID]):
        """supportes' rules behind the library's repository and ``save()``."""

        name = "SupportPeer"

        def __init__(self, env: dict[str, str], max_skew: timedelta) -> None:
            super().__init__(env)
            self.max_skew = max_skew

        def handle(self, raw: dict[str, Any]) -> Handled:
            """One request: parse, load, decide, save."""
            began = time.perf_counter()
            try:
                command = parse_command(raw)
            except Rejection:
                return Handled(False, 0, [])
            parsed = time.perf_counter()
            try:
                current = cast(AnyAggregate | None, self.repository.get(command.aggregate_id))
            except AggregateNotFoundError:
                current = None
            loaded = time.perf_counter()
            try:
                check_issued_at(command.issued_at, now=datetime.now(UTC), max_skew=self.max_skew)
                aggregate = peer_decide(command, current)
            except Rejection as rejection:
                done = time.perf_counter()
                times = (loaded - parsed, done - loaded + parsed - began, 0.0)
                return Handled(False, 0, compensations(command, rejection), *times)
            events = cast(list[SupportAggregate.Event], list(aggregate.pending_events))
            follow_ons = follow_on_envelopes(command, events)
            decided = time.perf_counter()
            self.save(aggregate)
            times = (
                loaded - parsed,
                decided - loaded + parsed - began,
                time.perf_counter() - decided,
            )
            return Handled(True, len(events), follow_ons, *times)

    return SupportPeer


@dataclass(frozen=True)
class PeerRun:
    """One peer run over a command list."""

    rate: float
    commands: int
    follow_ons: int
    accepted: int
    events: int
    latencies: list[float]
    """Seconds per sent command (service time closed-loop; scheduled -> saved at a rate)."""
    stored: int
    """Rows in the library's ``stored_events`` afterwards."""
    load_s: float = 0.0
    decide_s: float = 0.0
    save_s: float = 0.0
    """Summed over every request (follow-ons included), as :class:`Handled`."""

    def share(self) -> str:
        """Mean time per request in load / decide / save."""
        requests = self.commands + self.follow_ons
        parts = (("load", self.load_s), ("decide", self.decide_s), ("save", self.save_s))
        return ", ".join(f"{name} {1000 * s / requests:.2f}" for name, s in parts) + " ms"


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outstanding = 0
        self.accepted = 0
        self.events = 0
        self.follow_ons = 0
        self.seconds = [0.0, 0.0, 0.0]
        self.drained = threading.Event()

    def add(self, n: int) -> None:
        with self.lock:
            self.outstanding += n

    def done(self, handled: Handled) -> None:
        with self.lock:
            self.outstanding -= 1
            self.follow_ons += len(handled.follow_ons)
            self.accepted += handled.accepted
            self.events += handled.events
            self.seconds[0] += handled.load_s
            self.seconds[1] += handled.decide_s
            self.seconds[2] += handled.save_s
            if self.outstanding == 0:
                self.drained.set()


@contextmanager
def peer_database(settings: Settings, *, synchronous_commit: bool = True) -> Iterator[str]:
    """A scratch database for the peer (the library creates its table), dropped afterwards."""
    with scratch_database(settings) as dsn:
        if not synchronous_commit:
            admin = connect(settings.dsn)
            admin.autocommit = True
            try:
                with admin.cursor() as cur:
                    name = psycopg2.extensions.parse_dsn(dsn)["dbname"]
                    cur.execute(
                        sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                            sql.Identifier(name)
                        )
                    )
            finally:
                admin.close()
        yield dsn


def run_peer(
    settings: Settings,
    dsn: str,
    envelopes: Sequence[dict[str, Any]],
    workers: int,
    phase: str,
    *,
    rate_per_s: float | None = None,
) -> PeerRun:
    """The peer over ``envelopes`` on ``workers`` threads: as fast as it goes, or sent at
    ``rate_per_s`` (latency then from each command's scheduled time)."""
    require_postgres_driver()
    app = _application_class()(postgres_env(dsn), settings.max_clock_skew)
    queues: list[queue.SimpleQueue[tuple[dict[str, Any], float | None] | None]] = [
        queue.SimpleQueue() for _ in range(workers)
    ]
    counter = _Counter()
    latencies: list[float] = []
    progress = Progress(NAME, phase, len(envelopes))

    def work(own: queue.SimpleQueue[tuple[dict[str, Any], float | None] | None]) -> None:
        while (item := own.get()) is not None:
            raw, sent = item
            began = time.monotonic() if sent is None else sent
            try:
                handled = app.handle(raw)
            except Exception as exc:  # a broken run must end, not hang on the drain
                failures.append(exc)
                counter.drained.set()
                return
            counter.add(len(handled.follow_ons))  # before any of them can be done
            for follow_on in handled.follow_ons:
                queues[worker_of(follow_on["aggregate_id"], workers)].put((follow_on, -1.0))
            if sent != -1.0:
                latencies.append(time.monotonic() - began)
                progress.advance(1)
            counter.done(handled)

    failures: list[Exception] = []
    table = str(getattr(app.recorder, "events_table_name", "stored_events"))
    threads = [threading.Thread(target=work, args=(q,), daemon=True) for q in queues]
    for thread in threads:
        thread.start()
    try:
        counter.add(len(envelopes))
        started = time.monotonic()
        for index, raw in enumerate(envelopes):
            scheduled: float | None = None
            if rate_per_s:
                scheduled = started + index / rate_per_s
                pause = scheduled - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            queues[worker_of(raw["aggregate_id"], workers)].put((raw, scheduled))
        counter.drained.wait()
        elapsed = time.monotonic() - started
        if failures:
            raise RuntimeError(f"the peer failed: {failures[0]!r}") from failures[0]
    finally:
        for own in queues:
            own.put(None)
        for thread in threads:
            thread.join(60)
        app.close()
    progress.finish()
    return PeerRun(
        rate=len(envelopes) / elapsed,
        commands=len(envelopes),
        follow_ons=counter.follow_ons,
        accepted=counter.accepted,
        events=counter.events,
        latencies=latencies,
        stored=_stored_events(dsn, table),
        load_s=counter.seconds[0],
        decide_s=counter.seconds[1],
        save_s=counter.seconds[2],
    )


def _stored_events(dsn: str, table: str) -> int:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            row = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    return int(row[0]) if row else 0


def _peer_once(
    settings: Settings,
    envelopes: Sequence[dict[str, Any]],
    workers: int,
    phase: str,
    *,
    synchronous_commit: bool = True,
    rate_per_s: float | None = None,
) -> PeerRun:
    with peer_database(settings, synchronous_commit=synchronous_commit) as dsn:
        return run_peer(settings, dsn, envelopes, workers, phase, rate_per_s=rate_per_s)


# --- the benchmark ------------------------------------------------------------------------


def peer_eventsourcing(
    settings: Settings,
    commands: int,
    *,
    rounds: int = ROUNDS,
    workers: int = WORKERS,
    latency_s: float = 10.0,
) -> Result:
    """supportes' writer beside the ``eventsourcing`` peer: throughput and latency ratios.

    Each round (order reversed every other round): supportes' writer and the peer on
    ``workers`` threads over all ``commands``; the peer on one thread and on ``workers``
    threads with ``synchronous_commit=off`` over the first :data:`VARIANT_SHARE` of them (the
    mix is in steady state after a few hundred commands; the whole list on one thread would
    take minutes)."""
    prefix = max(1, int(commands * VARIANT_SHARE))
    result = Result(
        NAME,
        params={
            "commands": commands,
            "variant_commands": prefix,
            "rounds": rounds,
            "workers": workers,
        },
    )
    load = load_average()
    envelopes = list(TrafficGenerator(seed=2026).commands(commands))
    ours: list[WriterRun] = []
    runs: dict[str, list[PeerRun]] = {step: [] for step in PEER_STEPS}
    for number in range(1, rounds + 1):
        steps = ["supportes", *PEER_STEPS]
        for step in steps if number % 2 else list(reversed(steps)):
            tag = f"(round {number}/{rounds})"
            if step == "supportes":
                ours.append(decide_prefilled(settings, envelopes, f"supportes {tag}", NAME))
                continue
            threads = 1 if step == "1 thread" else workers
            runs[step].append(
                _peer_once(
                    settings,
                    envelopes if step == "n threads" else envelopes[:prefix],
                    threads,
                    f"peer {step.replace('n ', f'{workers} ')} {tag}",
                    synchronous_commit=step != "n threads, async commit",
                )
            )
    _throughput_metrics(result, ours, runs, workers, load)
    rate = latency_rate(median(r.rate for r in runs["n threads"]))
    _latency_metrics(result, settings, workers, rate, latency_s)
    result.add("load average", os.getloadavg()[0], "", f"1 min, at the end; {load}")
    return result


PEER_STEPS = ("n threads", "1 thread", "n threads, async commit")
VARIANT_SHARE = 0.2
"""The share of the commands the peer's variants (1 thread; synchronous_commit=off) decide."""


def latency_rate(peer_rate: float, share: float = 0.5, step: int = 50) -> int:
    """The steady rate of the latency runs: ``share`` of the peer's measured throughput,
    rounded down to ``step`` (at least ``step``), so neither side runs saturated."""
    return max(step, int(peer_rate * share) // step * step)


def _runs(values: Sequence[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def _throughput_metrics(
    result: Result,
    ours: list[WriterRun],
    runs: dict[str, list[PeerRun]],
    workers: int,
    load: str,
) -> None:
    rates = [r.rate for r in ours]
    result.add(
        "supportes writer",
        median(rates),
        "cmd/s",
        f"1 process, 6 partitions, Kafka transactions + PostgreSQL index; runs {_runs(rates)};"
        f" +{ours[-1].follow_ons:,} follow-ons; load average {load}",
    )
    for step, how in (
        ("n threads", "synchronous_commit=on (WAL fsync per command)"),
        ("1 thread", "synchronous_commit=on; one command at a time"),
        ("n threads, async commit", "synchronous_commit=off (no fsync wait)"),
    ):
        label = f"peer, {step.replace('n ', f'{workers} ')}"
        peer = runs[step]
        peer_rates = [r.rate for r in peer]
        last = peer[-1]
        p50 = median(percentile(r.latencies, 50) * 1000 for r in peer)
        p99 = median(percentile(r.latencies, 99) * 1000 for r in peer)
        check = "ok" if last.stored == last.events else f"MISMATCH {last.stored:,} stored"
        result.add(
            label,
            median(peer_rates),
            "cmd/s",
            f"{how}; {last.commands:,} commands, runs {_runs(peer_rates)}; {last.accepted:,} of"
            f" {last.commands + last.follow_ons:,} accepted (+{last.follow_ons:,} follow-ons),"
            f" {last.events:,} events, stored {check}; service time p50 {p50:.2f} ms,"
            f" p99 {p99:.2f} ms; per request {last.share()}",
        )
        ratios = [a.rate / b.rate for a, b in zip(ours, peer, strict=True)]
        result.add(
            f"supportes / {label}",
            median_ratio(rates, peer_rates),
            "x",
            f"throughput, median of the rounds' ratios ({', '.join(f'{r:.2f}' for r in ratios)})",
        )


def _latency_metrics(
    result: Result, settings: Settings, workers: int, rate: int, duration_s: float
) -> None:
    ours = writer_latency(settings, rate_per_s=rate, duration_s=duration_s)
    total = int(rate * duration_s)
    # the writer-latency runner's steady commands (seed 7); a short warm-up before, as it has
    envelopes = list(TrafficGenerator(seed=7).commands(total))
    warm = list(TrafficGenerator(seed=9).commands(PEER_WARM_UP))
    with peer_database(settings) as dsn:
        run_peer(settings, dsn, warm, workers, "peer warm-up")
        peer = run_peer(
            settings,
            dsn,
            envelopes,
            workers,
            f"peer {workers} threads at {rate}/s",
            rate_per_s=rate,
        )
    for pct in (50, 99):
        mine = ours.value(f"latency p{pct}")
        theirs = percentile(peer.latencies, pct) * 1000
        result.add(
            f"latency p{pct}, supportes",
            mine,
            "ms",
            f"{rate}/s (half the peer's throughput) for {duration_s:g} s, send -> result read"
            " (writer-latency runner)",
        )
        result.add(
            f"latency p{pct}, peer",
            theirs,
            "ms",
            f"{rate}/s, the same commands, {workers} threads, scheduled -> saved"
            f" (synchronous_commit=on); {peer.rate:,.0f} cmd/s done",
        )
        result.add(
            f"latency p{pct} supportes / peer",
            mine / theirs if theirs > 0 else 0.0,
            "x",
            "above 1: supportes slower",
        )


PEER_WARM_UP = 2000
"""Commands the peer decides before its latency run (its database and pool warm)."""
