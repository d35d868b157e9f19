"""The benchmarks ``make bench`` runs, with their default sizes (x ``--scale``).

Importing this module registers them in :data:`supportes.bench.registry.REGISTRY`.
"""

from __future__ import annotations

from supportes.bench.api_bench import api_read, api_submit_latency
from supportes.bench.console_pages import console_pages
from supportes.bench.kafka_ceilings import (
    ProducerTuning,
    kafka_ctp_ceiling,
    kafka_latency_ceiling,
    kafka_read_ceiling,
)
from supportes.bench.peer_eventsourcing import peer_eventsourcing
from supportes.bench.pg_ceilings import pg_copy_ceiling
from supportes.bench.projection_bench import projection_replay
from supportes.bench.projector_catch_up import projector_catch_up
from supportes.bench.registry import benchmark
from supportes.bench.results import Result
from supportes.bench.stats import scaled
from supportes.bench.writer_bench import writer_latency, writer_throughput
from supportes.bench.writer_metrics import writer_metrics_cost
from supportes.bench.writer_replication import writer_replication
from supportes.bench.writer_scaling import writer_scaling
from supportes.settings import Settings

#: Producer settings of the throughput ceilings (see :class:`ProducerTuning` for why).
TUNING = ProducerTuning()
#: Latency: ship each one-message transaction at once.
LATENCY_TUNING = ProducerTuning(linger_ms=0, batch_size=16 * 1024, compression_type=None)


@benchmark("kafka-ctp-ceiling", "bare consume-transform-produce, one transaction per poll batch")
def ctp(settings: Settings, scale: float) -> Result:
    """100,000 x scale commands of 450 B, 6 partitions, poll batches of 500."""
    return kafka_ctp_ceiling(
        settings,
        messages=scaled(100_000, scale, minimum=1000),
        partitions=6,
        batch_size=500,
        value_size=450,
        tuning=TUNING,
    )


@benchmark("kafka-read-ceiling", "bare read_committed read of a 6-partition topic")
def read(settings: Settings, scale: float) -> Result:
    """100,000 x scale events of 900 B."""
    return kafka_read_ceiling(
        settings, messages=scaled(100_000, scale, minimum=1000), partitions=6, tuning=TUNING
    )


@benchmark("pg-copy-ceiling", "bare COPY of case-timeline rows into a logged table")
def pg_copy(settings: Settings, scale: float) -> Result:
    """200,000 x scale rows with ~300 B jsonb payloads."""
    return pg_copy_ceiling(settings, rows=scaled(200_000, scale, minimum=1000))


@benchmark("kafka-latency-ceiling", "produce → consume round trip, 1 message per transaction")
def latency(settings: Settings, scale: float) -> Result:
    """500 msg/s for 10 s x scale, 6 transactional producers (one per partition, as the writer)."""
    return kafka_latency_ceiling(
        settings,
        rate_per_s=500,
        duration_s=max(1.0, 10.0 * scale),
        partitions=6,
        producers=6,
        tuning=LATENCY_TUNING,
    )


@benchmark("writer-throughput", "one writer process, 6 partitions, realistic command mix")
def writer_throughput_bench(settings: Settings, scale: float) -> Result:
    """100,000 x scale commands; the bare ceiling with the same sizes runs beside it."""
    return writer_throughput(settings, commands=scaled(100_000, scale, minimum=2000))


@benchmark("writer-metrics", "one writer with its metrics on beside off, same commands")
def writer_metrics_bench(settings: Settings, scale: float) -> Result:
    """30,000 x scale commands, ten alternating rounds of each (short pairs: a slow minute of
    the machine counts against fewer rounds)."""
    return writer_metrics_cost(settings, commands=scaled(30_000, scale, minimum=2000))


@benchmark("writer-replication", "one writer on 3 brokers with RF 3 beside 1 broker with RF 1")
def writer_replication_bench(settings: Settings, scale: float) -> Result:
    """60,000 x scale commands, three rounds on each; a 3-node cluster is started for it."""
    return writer_replication(settings, commands=scaled(60_000, scale, minimum=2000))


@benchmark("writer-scaling", "two writer processes beside one, same commands, 6 partitions")
def writer_scaling_bench(settings: Settings, scale: float) -> Result:
    """60,000 x scale commands, two rounds of one and two `supportes serve --writer`."""
    return writer_scaling(settings, commands=scaled(60_000, scale, minimum=2000))


@benchmark("writer-latency", "submit -> result latency at a steady 500 commands/s")
def writer_latency_bench(settings: Settings, scale: float) -> Result:
    """500 commands/s for 60 s x scale against a `supportes serve --writer` process."""
    return writer_latency(settings, rate_per_s=500, duration_s=max(6.0, 60.0 * scale))


@benchmark(
    "peer-eventsourcing", "the writer beside the eventsourcing library's Application + PostgreSQL"
)
def peer_eventsourcing_bench(settings: Settings, scale: float) -> Result:
    """20,000 x scale commands of the writer-throughput mix, two alternating rounds; latency
    at half the peer's throughput for 10 s x scale. Needs the ``bench-peer`` extra."""
    return peer_eventsourcing(
        settings, commands=scaled(20_000, scale, minimum=2000), latency_s=max(3.0, 10.0 * scale)
    )


@benchmark("projection-replay", "replay of realistic events into every projection; 2 workers / 1")
def projection_replay_bench(settings: Settings, scale: float) -> Result:
    """1,000,000 x scale events (and a first point at 10 % of them), with ceilings beside."""
    return projection_replay(settings, events=scaled(1_000_000, scale, minimum=10_000))


@benchmark("projector-catch-up", "live projector's lag after a burst of commands, and its drain")
def projector_catch_up_bench(settings: Settings, scale: float) -> Result:
    """100,000 x scale commands at once against `supportes serve --writer --projector`; a
    rebuild of the same log beside."""
    return projector_catch_up(settings, commands=scaled(100_000, scale, minimum=2000))


@benchmark("api-read", "wrk on GET /v1/cases/{id} beside a bare endpoint of the same app")
def api_read_bench(settings: Settings, scale: float) -> Result:
    """wrk -t2 -c32 for 15 s x scale on each endpoint, loopback."""
    return api_read(settings, seconds=max(3, round(15 * scale)))


@benchmark("api-submit-latency", "submit -> result through HTTP beside the Kafka client, 500/s")
def api_submit_latency_bench(settings: Settings, scale: float) -> Result:
    """500 commands/s for 60 s x scale per path, in alternating 20 s windows."""
    return api_submit_latency(settings, rate_per_s=500, duration_s=max(6.0, 60.0 * scale))


@benchmark("console-pages", "server time per console page, and the 200-event case page in chromium")
def console_pages_bench(settings: Settings, scale: float) -> Result:
    """50 x scale GETs of each page after 5; 10 x scale browser loads of the case page and 3
    with the cache cleared."""
    return console_pages(
        settings, requests=scaled(50, scale, minimum=10), loads=max(3, round(10 * scale))
    )
