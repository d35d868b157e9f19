"""Benchmark of what the metrics cost the write path (issue 18): the writer with them on beside
off (``SUPPORTES_METRICS_ENABLED``), the same prefilled commands, in the same run.

Rounds alternate which goes first; the figure is the median of each round's ratio. A round's
rates swing by 10 % on this 2-core machine, more than the cost measured, so the recorder also
times itself (``WriterMetrics.seconds_spent``), reported as a share of the run's CPU. The writer
runs in this process, so its counters are this process's (nothing scrapes them meanwhile: a
scrape every 15 s costs a few milliseconds of one core, well below what a round can show).
"""

from __future__ import annotations

from statistics import median

from supportes.bench.results import Result
from supportes.bench.writer_bench import WriterRun, decide_prefilled
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

NAME = "writer-metrics"
ROUNDS = 10
TARGET_PCT = 97.0
"""Issue 18: the writer with metrics on at >= 97 % of its throughput with them off."""


def writer_metrics_cost(settings: Settings, commands: int, rounds: int = ROUNDS) -> Result:
    """Commands/s of one writer with metrics on and off over the same ``commands``."""
    result = Result(
        NAME, params={"commands": commands, "partitions": settings.partitions, "rounds": rounds}
    )
    envelopes = list(TrafficGenerator(seed=2029).commands(commands))
    runs: dict[bool, list[WriterRun]] = {True: [], False: []}
    for number in range(1, rounds + 1):
        for enabled in (True, False) if number % 2 else (False, True):
            target = settings.model_copy(update={"metrics_enabled": enabled})
            label = f"metrics {'on' if enabled else 'off'} (round {number}/{rounds})"
            runs[enabled].append(decide_prefilled(target, envelopes, f"decide {label}", NAME))
    for enabled in (True, False):
        rates = [run.rate for run in runs[enabled]]
        result.add(
            f"commands (metrics {'on' if enabled else 'off'})",
            median(rates),
            "cmd/s",
            f"one writer, median of {rounds}; runs {', '.join(f'{r:,.0f}' for r in rates)}",
        )
    ratios = [100 * on.rate / off.rate for on, off in zip(runs[True], runs[False], strict=True)]
    verdict = "met" if median(ratios) >= TARGET_PCT else "NOT met"
    result.add(
        "on / off",
        median(ratios),
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)}); "
        f"target >= {TARGET_PCT:.0f}% (issue 18): {verdict}",
    )
    cpu = [100 * off.cpu_s / on.cpu_s for on, off in zip(runs[True], runs[False], strict=True)]
    if all(on.cpu_s for on in runs[True]):
        result.add(
            "on / off CPU",
            median(cpu),
            "%",
            "off run's CPU s / on run's (this process, the timed window): "
            + ", ".join(f"{c:.1f}" for c in cpu),
        )
    own = [100 * run.metrics_s / run.cpu_s for run in runs[True] if run.cpu_s]
    if own:
        result.add(
            "recording's own share",
            median(own),
            "% CPU",
            "time the recorder spent per on run / the run's CPU s (per cycle and per poll; the "
            "per-command dict increment, ~0.2 us, is outside): "
            + ", ".join(f"{o:.2f}" for o in own),
        )
    return result
