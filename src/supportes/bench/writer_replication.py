"""Benchmark of the write path on a replicated log (issue 17): 3 brokers, RF 3, beside 1, RF 1.

A 3-node KRaft cluster is started for the benchmark (``stack up --brokers 3 --kafka-only``
under a temporary home, free loopback ports, production's durability: RF 3,
``min.insync.replicas=2``, transaction state RF 3 / min ISR 2) beside the running single-node
stack, and PostgreSQL is the stack's. Each round decides the same prefilled commands with one
in-process writer on each (fresh topics, fresh database, the order alternating between rounds
so a slow moment of the machine counts against both), then runs the bare
consume-transform-produce loop on each with the writer's sizes and producer settings: its
ratio says what replication costs Kafka itself here, apart from what it costs supportes.

On one machine the three nodes share its cores with the writer and PostgreSQL: every record
is written three times (leader and two followers fetching it), and each commit waits for the
followers to fetch the batch and the transaction markers (acks=all), so the figure bounds what
a real cluster - one node per machine, a network round trip instead of a loopback one - costs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

from supportes.bench.kafka_ceilings import ProducerTuning, kafka_ctp_ceiling
from supportes.bench.results import Result
from supportes.bench.writer_bench import POLL_BATCH, WriterRun, decide_prefilled
from supportes.faults.deployment import free_ports
from supportes.logs import get_logger
from supportes.messaging.clients import TRANSACTION_BATCH_BYTES, TRANSACTION_LINGER_MS
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator
from supportes.stack import manager

log = get_logger("bench")

NAME = "writer-replication"
ROUNDS = 3
TARGET_PCT = 60.0
"""Issue 17: the writer on 3 brokers with RF 3 at >= 60 % of its throughput on 1 with RF 1."""


@contextmanager
def replicated_cluster(settings: Settings) -> Iterator[Settings]:
    """Settings of a fresh 3-node local Kafka cluster (temporary home, free ports; PostgreSQL
    stays ``settings``'), stopped and its files removed after the block."""
    if not settings.kafka_is_local:
        raise RuntimeError(
            "needs the local single-node stack (SUPPORTES_KAFKA_BOOTSTRAP unset): it starts "
            "a local 3-node cluster beside it"
        )
    home = Path(tempfile.mkdtemp(prefix="supportes-bench-cluster-"))
    home.chmod(0o700)
    ports = free_ports()
    cluster = settings.model_copy(
        update={
            "home": home,
            "kafka_port": ports.kafka,
            "kafka_controller_port": ports.kafka + 1,
            "pg_dsn": settings.dsn,
            "replication_factor": 3,
        }
    ).with_kafka_brokers(3)
    try:
        began = time.monotonic()
        manager.up(cluster, kafka_only=True)
        log.info(
            "bench cluster up",
            bootstrap=cluster.bootstrap_servers,
            seconds=round(time.monotonic() - began, 1),
        )
        yield cluster
    finally:
        try:
            manager.down(cluster, kafka_only=True)
        finally:
            shutil.rmtree(home, ignore_errors=True)


def writer_replication(settings: Settings, commands: int, rounds: int = ROUNDS) -> Result:
    """Commands/s of one writer on a 3-node RF 3 cluster beside the single RF 1 node."""
    result = Result(
        NAME, params={"commands": commands, "partitions": settings.partitions, "rounds": rounds}
    )
    envelopes = list(TrafficGenerator(seed=2028).commands(commands))
    value_size = int(sum(len(json.dumps(e)) for e in envelopes) / len(envelopes))
    single: list[WriterRun] = []
    replicated: list[WriterRun] = []
    bare_single: list[float] = []
    bare_replicated: list[float] = []
    with replicated_cluster(settings) as cluster:
        for number in range(1, rounds + 1):
            sides = [(settings, single, bare_single), (cluster, replicated, bare_replicated)]
            for target, runs, bares in sides if number % 2 else sides[::-1]:
                label = f"RF {target.replication_factor} (round {number}/{rounds})"
                runs.append(decide_prefilled(target, envelopes, f"decide {label}", NAME))
                bares.append(_bare(target, commands, value_size))
    _report(result, single, replicated, bare_single, bare_replicated)
    return result


def _bare(settings: Settings, commands: int, value_size: int) -> float:
    """The bare consume-transform-produce loop with the writer's sizes and producer settings."""
    ceiling = kafka_ctp_ceiling(
        settings,
        messages=commands,
        partitions=settings.partitions,
        batch_size=POLL_BATCH,
        value_size=value_size,
        tuning=ProducerTuning(linger_ms=TRANSACTION_LINGER_MS, batch_size=TRANSACTION_BATCH_BYTES),
    )
    return ceiling.value("messages")


def _report(
    result: Result,
    single: list[WriterRun],
    replicated: list[WriterRun],
    bare_single: list[float],
    bare_replicated: list[float],
) -> None:
    for label, runs in (("1 broker, RF 1", single), ("3 brokers, RF 3", replicated)):
        rates = [run.rate for run in runs]
        result.add(
            f"commands ({label})",
            median(rates),
            "cmd/s",
            f"one writer, median of {len(runs)}; runs {_listed(rates, ',.0f')}",
        )
    ratios = _ratios(replicated, single)
    verdict = "met" if median(ratios) >= TARGET_PCT else "NOT met"
    result.add(
        "RF 3 / RF 1",
        median(ratios),
        "%",
        f"median of the rounds' ratios ({_listed(ratios, '.1f')}); min.insync.replicas=2, "
        f"acks=all; target >= {TARGET_PCT:.0f}% (issue 17): {verdict}",
    )
    for label, figures in (("1 broker, RF 1", bare_single), ("3 brokers, RF 3", bare_replicated)):
        result.add(
            f"bare ctp ({label})",
            median(figures),
            "msg/s",
            f"the writer's sizes and producer settings; runs {_listed(figures, ',.0f')}",
        )
    bare_ratios = [100 * r / s for r, s in zip(bare_replicated, bare_single, strict=True) if s]
    result.add(
        "bare RF 3 / RF 1",
        median(bare_ratios) if bare_ratios else 0.0,
        "%",
        f"what replication costs Kafka itself on this machine ({_listed(bare_ratios, '.1f')})",
    )
    for label, runs, bares in (
        ("RF 1", single, bare_single),
        ("RF 3", replicated, bare_replicated),
    ):
        shares = [100 * run.rate / bare for run, bare in zip(runs, bares, strict=True) if bare]
        result.add(
            f"writer / bare ({label})",
            median(shares) if shares else 0.0,
            "%",
            f"per round: {_listed(shares, '.1f')}",
        )


def _ratios(numerators: list[WriterRun], denominators: list[WriterRun]) -> list[float]:
    return [
        100 * n.rate / d.rate for n, d in zip(numerators, denominators, strict=True) if d.rate > 0
    ]


def _listed(values: list[float], spec: str) -> str:
    return ", ".join(format(v, spec) for v in values)
