"""Small helpers for the stack's server processes: pid files, liveness, ports, waiting."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
PROC_NET_TCP = ("/proc/net/tcp", "/proc/net/tcp6")
TCP_LISTEN = "0A"


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process is alive, else None (stale files are removed)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if is_alive(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def is_alive(pid: int) -> bool:
    """True when ``pid`` names a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def listening(host: str, port: int) -> bool:
    """True when a socket listens on IPv4 host:port (or on a wildcard address, or on host
    mapped into IPv6, as Java's servers do), as the kernel's /proc/net/tcp{,6} say: a
    readiness poll asks this before connecting, since a connection to a port nobody listens on
    yet can get that same port as its own local end (a TCP self-connect), which keeps the
    server from binding it. True when /proc cannot be read."""
    wanted = _proc_net_addresses(host, port)
    readable = False
    for table_file in PROC_NET_TCP:
        try:
            table = Path(table_file).read_text()
        except OSError:
            continue
        readable = True
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN and fields[1] in wanted:
                return True
    return not readable


def _proc_net_addresses(host: str, port: int) -> set[str]:
    """The local addresses /proc/net/tcp{,6} write for a listener that accepts host:port:
    each 32-bit word of the address in host (little-endian) byte order, in hex."""

    def words(packed: bytes) -> str:
        return "".join(
            f"{int.from_bytes(packed[i : i + 4], 'little'):08X}" for i in range(0, len(packed), 4)
        )

    mapped = b"\0" * 10 + b"\xff\xff"
    addresses = (
        socket.inet_aton(host),
        socket.inet_aton("0.0.0.0"),
        mapped + socket.inet_aton(host),
        mapped + socket.inet_aton("0.0.0.0"),
        b"\0" * 16,
    )
    return {f"{words(packed)}:{port:04X}" for packed in addresses}


def ephemeral_ports() -> range:
    """The local ports the kernel hands to outgoing connections (Linux's
    ``net.ipv4.ip_local_port_range``; 32768-60999, its default, when it cannot be read). A
    listening port picked in there can be taken by any connection between the check that it is
    free and the server's bind: a fault campaign's Kafka node failed to start with "Address
    already in use" on its client port while its two peers were connecting to each other."""
    try:
        low, high = (int(n) for n in Path(EPHEMERAL_RANGE_FILE).read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def free_port_base(low: int, high: int, block: int) -> range:
    """Where to look for ``block`` consecutive listening ports in ``[low, high)``: the part
    below the ephemeral range when there is room, else the whole span."""
    top = min(high, ephemeral_ports().start)
    return range(low, top - block) if top - block > low else range(low, high - block)


def port_bindable(host: str, port: int) -> bool:
    """True when this process could bind host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(check: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll ``check`` until it returns True or ``timeout_s`` passes; return the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def terminate(pid: int, *, timeout_s: float) -> bool:
    """SIGTERM ``pid`` (its process group when it leads one), then SIGKILL after ``timeout_s``.

    Returns True when the process ended within the grace period.
    """
    signal_process(pid, signal.SIGTERM)
    if wait_until(lambda: not is_alive(pid), timeout_s=timeout_s):
        return True
    signal_process(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), timeout_s=10)
    return False


def signal_process(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``'s process group when it leads one, else to ``pid`` (gone: no-op)."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
