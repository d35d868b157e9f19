"""The figures of the machine a benchmark ran on: CPU, cores, memory, software versions."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from kafka import KafkaConsumer

from supportes.db.connect import connect
from supportes.messaging.clients import Component, connection_config
from supportes.settings import Settings


def cpu_model(cpuinfo: str) -> str:
    """The CPU model named in the text of ``/proc/cpuinfo`` ("unknown" when absent)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Processor") and value.strip():
            return value.strip()
    return "unknown"


def mem_total_gib(meminfo: str) -> float | None:
    """``MemTotal`` of the text of ``/proc/meminfo`` in GiB (None when absent)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def kafka_version(settings: Settings) -> str:
    """The broker version: what kafka-python's ApiVersions probe sees, plus the local jars'."""
    try:
        consumer = KafkaConsumer(
            **connection_config(settings, Component.ADMIN),
            request_timeout_ms=int(settings.connect_timeout_s * 1000) + 1000,
            bootstrap_timeout_ms=int(settings.connect_timeout_s * 1000),
        )
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        probe = ".".join(str(p) for p in consumer.config["api_version"])
    finally:
        consumer.close()
    if settings.kafka_is_local:
        return f"{settings.kafka_version} (local stack jars; ApiVersions probe: {probe})"
    return f"{probe}.x (ApiVersions probe of {settings.bootstrap_servers})"


def postgres_version(settings: Settings) -> str:
    """``server_version`` with the durability settings that change write figures."""
    try:
        conn = connect(settings.dsn, timeout_s=settings.connect_timeout_s)
    except Exception as exc:
        return f"unreachable ({exc})"
    try:
        with conn.cursor() as cur:
            shown = []
            for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers"):
                cur.execute(f"SHOW {name}")
                row = cur.fetchone()
                shown.append((name, row[0] if row else "?"))
    finally:
        conn.close()
    version = shown[0][1]
    rest = ", ".join(f"{k}={v}" for k, v in shown[1:])
    return f"{version} ({rest})"


def kafka_python_version() -> str:
    """kafka-python's version and which optional C helpers it found."""
    from kafka.record import util

    crc = "C crc32c" if getattr(util, "crc32c_c", None) else "pure-Python crc32c"
    codecs = [m for m in ("lz4", "zstandard", "snappy") if importlib.util.find_spec(m)]
    names = ", ".join(["gzip", *codecs])
    return f"{metadata.version('kafka-python')} ({crc}; codecs: {names})"


def load_average() -> str:
    """1/5/15-minute load averages: other work on the machine skews the figures."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (at start)"


def machine_info(settings: Settings) -> list[tuple[str, str]]:
    """``(name, value)`` pairs describing this machine and the run."""
    affinity = ""
    with contextlib.suppress(AttributeError):
        affinity = f", {len(os.sched_getaffinity(0))} usable"
    mem = mem_total_gib(_read("/proc/meminfo"))
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", cpu_model(_read("/proc/cpuinfo"))),
        ("cores", f"{os.cpu_count()}{affinity}"),
        ("memory", f"{mem:.1f} GiB" if mem is not None else "unknown"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("load average", load_average()),
        ("kafka-python", kafka_python_version()),
        ("kafka broker", kafka_version(settings)),
        ("postgresql", postgres_version(settings)),
        (
            "projector",
            f"{settings.projector_connections} connections, batches of up to"
            f" {settings.projector_batch:,} events (SUPPORTES_PROJECTOR_*)",
        ),
    ]


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far (``/proc/<pid>/stat``; None when it is
    gone or the file cannot be read)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return parse_proc_stat_cpu_s(text, os.sysconf("SC_CLK_TCK"))


def parse_proc_stat_cpu_s(text: str, ticks_per_s: int) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds (fields 14 and 15; the command
    name in parentheses may hold spaces, so fields are counted after its closing one)."""
    fields = text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine so far (the ``cpu`` line of ``/proc/stat``;
    idle and iowait are not busy), None when it cannot be read. Two readings give the share of
    all cores that was busy between them."""
    try:
        text = Path("/proc/stat").read_text()
    except OSError:
        return None
    return parse_machine_cpu_ticks(text)


def parse_machine_cpu_ticks(text: str) -> tuple[int, int] | None:
    """(busy, total) of the ``cpu`` line of a ``/proc/stat`` text (guest time is already in
    user and nice, so only the first eight fields are summed)."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(f) for f in fields[1:9]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return sum(ticks) - idle, sum(ticks)
    return None


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share (0-1) of all cores that was busy between two :func:`machine_cpu_ticks`."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])
