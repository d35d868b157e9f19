"""The benchmarks' CPU readings: a process's CPU seconds and the machine's busy share."""

from __future__ import annotations

import pytest

from supportes.bench.machine import (
    busy_share,
    machine_cpu_ticks,
    parse_machine_cpu_ticks,
    parse_proc_stat_cpu_s,
)

STAT = """cpu  100 5 50 800 40 3 2 0 7 0
cpu0 50 2 25 400 20 1 1 0 3 0
intr 12345
"""


def test_busy_is_everything_but_idle_and_iowait() -> None:
    # user 100 + nice 5 + system 50 + irq 3 + softirq 2 + steal 0; guest (7) is inside user
    assert parse_machine_cpu_ticks(STAT) == (160, 1000)


def test_no_cpu_line_reads_as_none() -> None:
    assert parse_machine_cpu_ticks("intr 1\n") is None


def test_busy_share_between_two_readings() -> None:
    assert busy_share((160, 1000), (310, 1200)) == pytest.approx(0.75)
    assert busy_share(None, (1, 2)) is None
    assert busy_share((5, 10), (5, 10)) is None  # no time passed


def test_this_machine_reads() -> None:
    first = machine_cpu_ticks()
    assert first is not None
    assert 0 <= first[0] <= first[1]


def test_a_command_name_with_spaces_and_parentheses() -> None:
    line = "42 (my (odd) name) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 99"
    assert parse_proc_stat_cpu_s(line, 100) == pytest.approx(3.0)
