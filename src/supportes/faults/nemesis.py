"""The fault campaign's nemesis: faults injected on a schedule into a running
:class:`~supportes.faults.deployment.Deployment`, each bounded and healed by itself.

The faults (design section 10; ``../shared/notes/fault-testing.md``): kill -9 of the leader of a
busy partition, SIGSTOP of a broker for ~10 s, a broker restart, kill -9 of a writer, SIGSTOP of
a writer past its session timeout (a zombie that wakes up), kill -9 of a projector, and an
immediate-mode PostgreSQL restart (a crash: the next start replays the WAL).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from supportes.faults.deployment import SESSION_TIMEOUT_MS, Deployment, Service
from supportes.logs import get_logger
from supportes.stack import kafka_cluster, postgres_local, processes
from supportes.stack.kafka_admin import admin_client
from supportes.stack.kafka_cluster import NodeState

log = get_logger("faults.nemesis")

BROKER_PAUSE_S = 10.0
DOWN_S = 4.0
"""How long a killed broker, writer or projector stays down before it is started again."""
ZOMBIE_S = SESSION_TIMEOUT_MS / 1000 + 4.0
"""A stopped writer sleeps past its session timeout: the group moves its partitions, then it
wakes up believing it still owns them (a zombie, fenced by the generation)."""
FAULTS = (
    "kill-partition-leader",
    "pause-broker",
    "restart-broker",
    "kill-writer",
    "zombie-writer",
    "kill-projector",
    "restart-postgres",
)
"""Every kind of fault, in the order of a default schedule."""


@dataclass
class Injection:
    """One fault as it happened (monotonic times)."""

    fault: str
    target: str
    began: float
    healed: float | None = None
    detail: str = ""


class Nemesis:
    """Injects ``schedule`` (seconds after :meth:`run` starts, fault name) into ``deployment``."""

    def __init__(self, deployment: Deployment, schedule: Sequence[tuple[float, str]]) -> None:
        unknown = [name for _, name in schedule if name not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        self.deployment = deployment
        self.schedule = sorted(schedule)
        self.injections: list[Injection] = []
        self._turn = 0
        self._actions: dict[str, Callable[[], Injection]] = {
            "kill-partition-leader": self.kill_partition_leader,
            "pause-broker": self.pause_broker,
            "restart-broker": self.restart_broker,
            "kill-writer": self.kill_writer,
            "zombie-writer": self.zombie_writer,
            "kill-projector": self.kill_projector,
            "restart-postgres": self.restart_postgres,
        }

    def run(self, stop: threading.Event) -> list[Injection]:
        """Inject every fault at its time (each healed before the next); stops early on
        ``stop``. The injections."""
        began = time.monotonic()
        for at, name in self.schedule:
            if stop.wait(max(0.0, began + at - time.monotonic())):
                break
            log.info("injecting fault", fault=name)
            injection = self._actions[name]()
            self.injections.append(injection)
            log.info(
                "fault healed",
                fault=name,
                target=injection.target,
                seconds=round((injection.healed or time.monotonic()) - injection.began, 1),
            )
        return self.injections

    # -- brokers ---------------------------------------------------------------------------

    def kill_partition_leader(self) -> Injection:
        """kill -9 of the node leading the events topic's partition 0, started again after
        :data:`DOWN_S`."""
        node = self._leader_of(self.deployment.settings.topic("events"), 0)
        injection = Injection("kill-partition-leader", f"kafka-{node}", time.monotonic())
        injection.detail = kafka_cluster.kill(self.deployment.settings, node)
        time.sleep(DOWN_S)
        kafka_cluster.start(self.deployment.settings)
        injection.healed = time.monotonic()
        return injection

    def pause_broker(self) -> Injection:
        """SIGSTOP of a node for :data:`BROKER_PAUSE_S`, then SIGCONT."""
        node = self._next_node()
        injection = Injection("pause-broker", f"kafka-{node}", time.monotonic())
        injection.detail = kafka_cluster.pause(self.deployment.settings, node)
        time.sleep(BROKER_PAUSE_S)
        kafka_cluster.resume(self.deployment.settings, node)
        injection.healed = time.monotonic()
        return injection

    def restart_broker(self) -> Injection:
        """A controlled restart of a node (SIGTERM, wait, start)."""
        node = self._next_node()
        injection = Injection("restart-broker", f"kafka-{node}", time.monotonic())
        process = next(
            n for n in kafka_cluster.nodes(self.deployment.settings) if n.spec.node_id == node
        )
        if process.pid is not None:
            processes.terminate(process.pid, timeout_s=60)
            process.paths.pid_file.unlink(missing_ok=True)
        kafka_cluster.start(self.deployment.settings)
        injection.healed = time.monotonic()
        injection.detail = f"restarted kafka-{node}"
        return injection

    def _next_node(self) -> int:
        self._turn += 1
        return self._turn % 3 + 1

    def _leader_of(self, topic: str, partition: int) -> int:
        live = [
            f"127.0.0.1:{n.spec.port}"
            for n in kafka_cluster.nodes(self.deployment.settings)
            if n.state is NodeState.UP
        ]
        with admin_client(self.deployment.settings, 10.0, bootstrap=live) as admin:
            for described in admin.describe_topics([topic]):
                for part in described.get("partitions", []):
                    if int(part["partition_index"]) == partition:
                        return int(part["leader_id"])
        raise RuntimeError(f"no leader found for {topic}-{partition}")

    # -- supportes processes -----------------------------------------------------------------

    def kill_writer(self) -> Injection:
        """kill -9 of a writer process, started again after :data:`DOWN_S`."""
        return self._kill_and_start("kill-writer", self._next(self.deployment.writers))

    def zombie_writer(self) -> Injection:
        """SIGSTOP of a writer for :data:`ZOMBIE_S` (past its session timeout), then SIGCONT."""
        writer = self._next(self.deployment.writers)
        injection = Injection("zombie-writer", writer.name, time.monotonic())
        writer.signal(signal.SIGSTOP)
        time.sleep(ZOMBIE_S)
        writer.signal(signal.SIGCONT)
        injection.healed = time.monotonic()
        return injection

    def kill_projector(self) -> Injection:
        """kill -9 of a projector process, started again after :data:`DOWN_S`."""
        return self._kill_and_start("kill-projector", self._next(self.deployment.projectors))

    def _next(self, services: Sequence[Service]) -> Service:
        """The services in turn, so that successive faults hit different processes."""
        service = services[self._turn % len(services)]
        self._turn += 1
        return service

    @staticmethod
    def _kill_and_start(fault: str, service: Service) -> Injection:
        injection = Injection(fault, service.name, time.monotonic())
        service.kill()
        time.sleep(DOWN_S)
        service.start()
        injection.healed = time.monotonic()
        return injection

    def restart_postgres(self) -> Injection:
        """``pg_ctl stop -m immediate`` (a crash), then start (WAL replay)."""
        injection = Injection("restart-postgres", "postgresql", time.monotonic())
        postgres_local.stop(self.deployment.settings, mode="immediate")
        postgres_local.start(self.deployment.settings)
        injection.healed = time.monotonic()
        injection.detail = "immediate shutdown, then start"
        return injection


def default_schedule(spacing_s: float, first_s: float = 8.0) -> list[tuple[float, str]]:
    """Every fault once, ``spacing_s`` apart after ``first_s`` (each waits for the last to
    heal, so faults never overlap)."""
    return [(first_s + n * spacing_s, name) for n, name in enumerate(FAULTS)]
