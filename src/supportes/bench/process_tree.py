"""Where the CPU and memory of a benchmark go: a process and its descendants (``/proc``), the
stack's PostgreSQL and broker, the machine's busy share of its cores.

A process's CPU is counted as its own user + system time plus that of the children it has
reaped (``cutime`` + ``cstime``): summed over the live processes of a tree, every process that
ever ran in it is counted once (a reaped one in its reaper's figure), so a PostgreSQL backend
that ends during a run still counts (in the postmaster's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from supportes.bench.machine import busy_share, machine_cpu_ticks
from supportes.bench.replay_helpers import parse_proc_status
from supportes.settings import Settings
from supportes.stack.layout import kafka_paths, postgres_paths

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """What a benchmark needs of one ``/proc/<pid>/stat`` line."""

    pid: int
    ppid: int
    own_s: float
    """utime + stime, seconds."""
    reaped_s: float
    """cutime + cstime: the reaped children's CPU, seconds."""

    @property
    def total_s(self) -> float:
        """Its own CPU and its reaped children's."""
        return self.own_s + self.reaped_s


def parse_stat(text: str, ticks_per_s: int) -> ProcStat:
    """A ``/proc/<pid>/stat`` line (the command name in parentheses may hold spaces and
    parentheses, so fields are counted after the last ``)``)."""
    head, _, rest = text.rpartition(")")
    pid = int(head.split("(", 1)[0].strip())
    fields = rest.split()
    # fields[0] is the state (field 3): ppid is field 4, utime..cstime fields 14-17
    ticks = [int(f) for f in fields[11:15]]
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        own_s=(ticks[0] + ticks[1]) / ticks_per_s,
        reaped_s=(ticks[2] + ticks[3]) / ticks_per_s,
    )


def descendants(parents: Mapping[int, int], root: int) -> list[int]:
    """``root`` and every process below it, from a pid -> parent pid map (``root`` first;
    the rest breadth-first). ``root`` is included even when it is not in the map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found = [root]
    seen = {root}
    index = 0
    while index < len(found):
        for child in sorted(children.get(found[index], ())):
            if child not in seen:
                seen.add(child)
                found.append(child)
        index += 1
    return found


def tree_cpu_s(table: Mapping[int, ProcStat], root: int) -> float | None:
    """CPU seconds of ``root``'s tree in ``table`` (None when ``root`` is not in it)."""
    if root not in table:
        return None
    parents = {pid: stat.ppid for pid, stat in table.items()}
    return sum(table[pid].total_s for pid in descendants(parents, root) if pid in table)


def process_table(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every readable process of the machine (a process gone meanwhile is left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            table[int(entry.name)] = parse_stat((entry / "stat").read_text(), ticks)
        except (OSError, ValueError, IndexError):
            continue
    return table


def children_of(pid: int, proc: Path = PROC) -> list[int]:
    """The live children of ``pid``, from every thread's ``task/<tid>/children`` (a child
    belongs to the thread that forked it); empty when it is gone."""
    found: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def tree_pids(root: int, proc: Path = PROC) -> list[int]:
    """``root`` and its live descendants now (cheaper than :func:`process_table`: only the
    tree's own ``children`` files are read)."""
    found = [root]
    index = 0
    while index < len(found):
        found.extend(c for c in children_of(found[index], proc) if c not in found)
        index += 1
    return found


def memory_kib(pid: int, proc: Path = PROC) -> dict[str, int]:
    """``VmRSS``/``VmHWM``/... of a process in KiB (empty once it is gone or a zombie)."""
    try:
        return parse_proc_status((proc / str(pid) / "status").read_text())
    except OSError:
        return {}


@dataclass(frozen=True)
class TreeMemory:
    """One sample of a process tree's memory."""

    processes: int
    rss_kib: int
    """VmRSS summed over the tree (shared pages counted in each process)."""
    largest_hwm_kib: int
    """The highest VmHWM of any one process of the tree."""


def tree_memory(pids: Iterable[int], proc: Path = PROC) -> TreeMemory:
    """VmRSS summed and the largest VmHWM over ``pids`` (those gone are left out)."""
    count = rss = largest = 0
    for pid in pids:
        fields = memory_kib(pid, proc)
        if not fields.get("VmRSS"):
            continue
        count += 1
        rss += fields["VmRSS"]
        largest = max(largest, fields.get("VmHWM", 0))
    return TreeMemory(count, rss, largest)


# -- the stack's servers -------------------------------------------------------------------------


def _pid_in(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if (PROC / str(pid)).exists() else None


def stack_pids(settings: Settings) -> dict[str, int]:
    """The local stack's ``postgresql`` (postmaster) and ``broker`` pids, from their pid files
    under ``SUPPORTES_HOME`` (absent when that server is not the local stack's)."""
    found: dict[str, int] = {}
    postmaster = _pid_in(postgres_paths(settings).data / "postmaster.pid")
    if postmaster is not None:
        found["postgresql"] = postmaster
    broker = _pid_in(kafka_paths(settings).pid_file)
    if broker is not None:
        found["broker"] = broker
    return found


@dataclass(frozen=True)
class CpuReading:
    """The machine's CPU ticks and the CPU seconds of named process trees, at one moment."""

    ticks: tuple[int, int] | None
    trees: dict[str, float]


def cpu_reading(roots: Mapping[str, int]) -> CpuReading:
    """Read the machine's ticks and the CPU seconds of each named tree now."""
    table = process_table()
    trees = {name: tree_cpu_s(table, pid) for name, pid in roots.items()}
    return CpuReading(machine_cpu_ticks(), {k: v for k, v in trees.items() if v is not None})


@dataclass(frozen=True)
class CpuSplit:
    """Where the CPU went between two readings."""

    seconds: float
    busy: float | None
    """Share (0-1) of all the machine's cores busy."""
    trees_s: dict[str, float]
    """CPU seconds of each named tree."""


def cpu_split(before: CpuReading, after: CpuReading, seconds: float) -> CpuSplit:
    """The machine's busy share and each tree's CPU seconds between ``before`` and ``after``."""
    trees = {
        name: after.trees[name] - before.trees[name] for name in before.trees if name in after.trees
    }
    return CpuSplit(seconds, busy_share(before.ticks, after.ticks), trees)


def tree_cpu_now(root: int, proc: Path = PROC) -> float | None:
    """CPU seconds of ``root``'s tree now, reading only the tree's own files (None when
    ``root`` is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for number, pid in enumerate(tree_pids(root, proc)):
        try:
            total += parse_stat((proc / str(pid) / "stat").read_text(), ticks).total_s
        except (OSError, ValueError, IndexError):
            if number == 0:
                return None
    return total
