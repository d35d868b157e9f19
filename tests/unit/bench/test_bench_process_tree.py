"""The benchmarks' process-tree readings: ``/proc/<pid>/stat`` lines, descendants, CPU and
memory summed over a tree (a fake ``/proc`` directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supportes.bench.process_tree import (
    CpuReading,
    ProcStat,
    cpu_split,
    descendants,
    parse_stat,
    tree_cpu_now,
    tree_cpu_s,
    tree_memory,
    tree_pids,
)


def _stat(pid: int, ppid: int, *ticks: int) -> str:
    utime, stime, cutime, cstime = ticks
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime ...
    return (
        f"{pid} (py (worker) 1) S {ppid} {pid} {pid} 0 -1 4194304 10 0 0 0"
        f" {utime} {stime} {cutime} {cstime} 20 0 1 0 100 1000 50\n"
    )


def test_a_stat_line_gives_parent_own_and_reaped_cpu() -> None:
    stat = parse_stat(_stat(42, 7, 300, 100, 50, 50), ticks_per_s=100)
    assert stat == ProcStat(pid=42, ppid=7, own_s=4.0, reaped_s=1.0)
    assert stat.total_s == pytest.approx(5.0)


def test_descendants_are_the_root_then_breadth_first() -> None:
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 14: 12}
    assert descendants(parents, 10) == [10, 11, 12, 13, 14]
    assert descendants(parents, 99) == [99]


def test_tree_cpu_counts_every_live_process_with_what_it_reaped() -> None:
    table = {
        10: ProcStat(10, 1, 2.0, 3.0),  # 3.0: a worker it reaped
        11: ProcStat(11, 10, 1.5, 0.0),
        12: ProcStat(12, 11, 0.5, 0.0),
        20: ProcStat(20, 1, 9.0, 0.0),  # not in the tree
    }
    assert tree_cpu_s(table, 10) == pytest.approx(7.0)
    assert tree_cpu_s(table, 99) is None


def _fake_proc(root: Path) -> Path:
    ticks = os.sysconf("SC_CLK_TCK")
    layout = {100: (1, [101, 102]), 101: (100, []), 102: (100, [103]), 103: (102, [])}
    for pid, (ppid, children) in layout.items():
        task = root / str(pid) / "task" / str(pid)
        task.mkdir(parents=True)
        (task / "children").write_text(" ".join(str(c) for c in children) + " ")
        (root / str(pid) / "stat").write_text(_stat(pid, ppid, ticks, 0, 0, 0))
        (root / str(pid) / "status").write_text(
            f"Name:\tpy\nVmHWM:\t  {pid * 10} kB\nVmRSS:\t  {pid} kB\nThreads:\t1\n"
        )
    # a second thread of 100 forked 104, which is already gone
    other = root / "100" / "task" / "105"
    other.mkdir(parents=True)
    (other / "children").write_text("104")
    return root


def test_tree_pids_follow_every_threads_children_files(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    assert sorted(tree_pids(100, proc)) == [100, 101, 102, 103, 104]
    assert tree_pids(999, proc) == [999]


def test_tree_memory_sums_rss_and_keeps_the_largest_high_water_mark(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    memory = tree_memory(tree_pids(100, proc), proc)
    assert memory.processes == 4  # 104 is gone
    assert memory.rss_kib == 100 + 101 + 102 + 103
    assert memory.largest_hwm_kib == 1030


def test_tree_cpu_now_reads_the_tree_only(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    assert tree_cpu_now(100, proc) == pytest.approx(4.0)  # one second each, 104 gone
    assert tree_cpu_now(999, proc) is None


def test_cpu_split_between_two_readings() -> None:
    before = CpuReading((100, 1000), {"postgresql": 5.0, "broker": 2.0})
    after = CpuReading((250, 1200), {"postgresql": 6.5, "gone": 1.0})
    split = cpu_split(before, after, 1.0)
    assert split.busy == pytest.approx(0.75)
    assert split.trees_s == {"postgresql": pytest.approx(1.5)}
