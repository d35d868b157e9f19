"""``/readyz`` of the writer and projector roles: their dependencies reachable, their group joined.

Each probe asks now (a PostgreSQL connection and ``SELECT 1``, a TCP connection to a Kafka
bootstrap server, each bounded by :data:`PROBE_TIMEOUT_S`) and reads what the roles report
themselves (:data:`~supportes.consumers.dependencies.HEALTH`: a role waiting out an outage is
not ready). A writer is ready once it owns partitions or is a member of its group that may get
some; a projector reports its lag (events not yet applied, over its partitions) beside.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from supportes.consumers.dependencies import HEALTH
from supportes.db.connect import connect
from supportes.observability import metrics
from supportes.settings import Settings

PROBE_TIMEOUT_S = 2.0
OK = "ok"


def postgresql_reachable(dsn: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """``ok`` when PostgreSQL answers ``SELECT 1`` on ``dsn``, else ``unreachable``."""
    try:
        conn = connect(dsn, timeout_s=timeout_s)
    except Exception:
        return "unreachable"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return OK
    except psycopg2.Error:
        return "unreachable"
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def kafka_reachable(bootstrap_servers: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """``ok`` when a TCP connection to one of the bootstrap servers opens, else
    ``unreachable``."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            continue
        with (
            contextlib.suppress(OSError),
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s),
        ):
            return OK
    return "unreachable"


def projector_lag() -> int:
    """The live projector's lag: over its partitions, the largest lag of any projection."""
    per_partition: dict[str, float] = {}
    for family in metrics.PROJECTOR_LAG.collect():
        for sample in family.samples:
            partition = sample.labels.get("partition", "")
            per_partition[partition] = max(per_partition.get(partition, 0.0), sample.value)
    return int(sum(per_partition.values()))


@dataclass
class Readiness:
    """What ``/readyz`` checks for this process's roles."""

    settings: Settings
    dsn: str
    roles: dict[str, Callable[[], str]] = field(default_factory=dict)
    """Each role's own check (``ok`` or why not), besides its reported health."""

    def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether this process is ready, and the checks that say why."""
        checks: dict[str, Any] = {
            "postgresql": postgresql_reachable(self.dsn),
            "kafka": kafka_reachable(self.settings.bootstrap_servers),
        }
        reported = HEALTH.snapshot()
        for role, own in self.roles.items():
            health = reported.get(role, {})
            if health.get("state") == "waiting":
                checks[role] = f"waiting for {health.get('dependency')}"
            else:
                checks[role] = own()
        ready = all(value == OK for value in checks.values())
        if "projector" in self.roles:
            checks["projector_lag_events"] = projector_lag()
        return ready, checks


def writer_joined(writer: Any) -> bool:
    """A writer owns its partitions (all opened), or is a member of its group (it may get
    some: more writers than partitions leave one idle, and that is fine)."""
    if writer.ready.is_set():
        return True
    try:
        return bool(writer.consumer.group_metadata().generation_id >= 0)
    except Exception:  # not joined yet, or the consumer is being replaced
        return False
