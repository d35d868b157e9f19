"""``wrk`` (Debian's HTTP load generator) for the API benchmarks: its bounded loopback command
line, one run, and the figures of its ``--latency`` output."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
WRK_THREADS = 2
WRK_CONNECTIONS = 32


@dataclass(frozen=True)
class WrkRun:
    """What one ``wrk --latency`` run printed."""

    requests: int
    seconds: float
    requests_per_s: float
    latency_avg_ms: float
    latency_max_ms: float
    percentiles_ms: dict[int, float]
    socket_errors: int = 0
    non_2xx: int = 0
    read_bytes: float = 0.0

    @property
    def p50_ms(self) -> float:
        return self.percentiles_ms[50]

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms[99]


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_COUNT_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def wrk_time_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``4.13ms``, ``1.02s``, ``2.00m``) in milliseconds."""
    found = re.fullmatch(_TIME, text.strip())
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(found.group(1)) * _TIME_UNITS_MS[found.group(2)]


def wrk_count(text: str) -> float:
    """A wrk count (``597.70``, ``1.03k``, ``2.10M``)."""
    found = re.fullmatch(r"([\d.]+)([kMG]?)", text.strip())
    if found is None:
        raise ValueError(f"not a wrk count: {text!r}")
    return float(found.group(1)) * _COUNT_UNITS[found.group(2)]


def wrk_size(text: str) -> float:
    """A wrk size (``604.32KB``, ``1.18MB``) in bytes."""
    found = re.fullmatch(r"([\d.]+)([KMGT]?B?)", text.strip())
    if found is None:
        raise ValueError(f"not a wrk size: {text!r}")
    return float(found.group(1)) * _SIZE_UNITS[found.group(2)]


def parse_wrk(output: str) -> WrkRun:
    """The figures of ``wrk --latency`` output; ValueError naming what is missing."""

    def need(pattern: str, what: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise ValueError(f"wrk output has no {what}: {output.strip()[:400]!r}")
        return found

    latency = need(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", "Latency thread stats")
    total = need(rf"^\s*(\d+) requests in {_TIME},\s+([\d.]+[KMGT]?B) read", "'N requests in' line")
    rate = need(r"^Requests/sec:\s+([\d.]+)", "Requests/sec")
    distribution = {
        int(m.group(1)): wrk_time_ms(m.group(2) + m.group(3))
        for m in re.finditer(rf"^\s+(\d+)%\s+{_TIME}\s*$", output, re.MULTILINE)
    }
    if 50 not in distribution or 99 not in distribution:
        raise ValueError("wrk output has no latency distribution (run it with --latency)")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkRun(
        requests=int(total.group(1)),
        seconds=wrk_time_ms(total.group(2) + total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        latency_avg_ms=wrk_time_ms(latency.group(1) + latency.group(2)),
        latency_max_ms=wrk_time_ms(latency.group(5) + latency.group(6)),
        percentiles_ms=distribution,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        read_bytes=wrk_size(total.group(4)),
    )


def wrk_command(
    url: str, *, seconds: int, token: str | None, connections: int = WRK_CONNECTIONS
) -> list[str]:
    """The bounded loopback ``wrk`` command line (ValueError for a non-loopback URL)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"wrk runs on loopback only, not {url}")
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    return [*command, url]


def run_wrk(
    url: str, *, seconds: int, token: str | None = None, connections: int = WRK_CONNECTIONS
) -> WrkRun:
    """Run wrk once (killed if it overruns by 30 s) and parse what it printed."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`: make setup installs it)")
    done = subprocess.run(
        wrk_command(url, seconds=seconds, token=token, connections=connections),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[:300]}")
    return parse_wrk(done.stdout)
