"""A whole supportes deployment on this machine for the fault campaign: its own stack (three
Kafka nodes, PostgreSQL, topics, migrations, KEK) under a home of its own with ports of its own,
and its serving processes - writers (instances 0..), projectors and API replicas, each a real
``supportes serve`` process that the nemesis can kill, stop and start again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from supportes.auth import Role, create_token
from supportes.db.connect import connect
from supportes.logs import get_logger
from supportes.settings import LOCAL_HOST, Settings
from supportes.stack import manager, processes

log = get_logger("faults.deployment")

SESSION_TIMEOUT_MS = 6000
"""The groups' session timeout: a killed process's partitions move within this."""
SUPPORTES = str(Path(sys.executable).parent / "supportes")


@dataclass(frozen=True)
class Ports:
    """The loopback ports of a deployment (Kafka nodes take ``kafka``, +2, +4 and the controller
    ports ``kafka + 1``, +2, +4 ... as ``stack up --brokers 3`` lays them out)."""

    kafka: int
    postgres: int
    apis: tuple[int, ...]


def free_ports(rng: random.Random | None = None) -> Ports:
    """Free loopback ports: six in a row for the Kafka nodes, one for PostgreSQL, two APIs."""
    rng = rng or random.Random()
    span = processes.free_port_base(20_000, 49_000, 10)  # below the ephemeral ports
    for _ in range(200):
        base = rng.randrange(span.start, span.stop, 10)
        wanted = [base + n for n in range(6)] + [base + 6, base + 7, base + 8]
        if all(processes.port_bindable(LOCAL_HOST, port) for port in wanted):
            return Ports(kafka=base, postgres=base + 6, apis=(base + 7, base + 8))
    raise RuntimeError("no free block of loopback ports found")


@dataclass
class Service:
    """One ``supportes serve`` process of the deployment, started and stopped at will."""

    name: str
    flags: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        """Start it (a no-op while it runs)."""
        if self.alive:
            return
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [SUPPORTES, "serve", *self.flags],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        """Whether its process runs (stopped by SIGSTOP counts as running)."""
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process (when it runs)."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)

    def kill(self) -> None:
        """``kill -9`` and reap it."""
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGCONT (in case it is stopped), SIGTERM, then SIGKILL after ``timeout_s``."""
        if not self.alive:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Deployment:
    """The campaign's deployment: ``settings`` point at its own stack (home, ports)."""

    settings: Settings
    workdir: Path
    ports: Ports
    writers: list[Service] = field(default_factory=list)
    projectors: list[Service] = field(default_factory=list)
    apis: list[Service] = field(default_factory=list)
    admin_token: str = ""

    ADMIN = "admin:campaign"

    @classmethod
    def create(
        cls,
        base: Settings,
        workdir: Path,
        ports: Ports,
        *,
        writers: int = 3,
        projectors: int = 2,
    ) -> Deployment:
        """Its settings (home ``workdir/home``, the ports, 3 brokers), services not started."""
        settings = base.model_copy(
            update={
                "home": workdir / "home",
                "kafka_port": ports.kafka,
                "kafka_controller_port": ports.kafka + 1,
                "kafka_bootstrap": None,
                "pg_dsn": None,
                "pg_port": ports.postgres,
                "topic_prefix": "supportes",
                "group_session_timeout_ms": SESSION_TIMEOUT_MS,
                "kek_file": None,
            }
        ).with_kafka_brokers(3)
        deployment = cls(settings, workdir, ports)
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for n in range(writers):
            deployment.writers.append(
                Service(
                    f"writer-{n}",
                    ["--writer"],
                    deployment.env(SUPPORTES_WRITER_INSTANCE=str(n)),
                    logs / f"writer-{n}.log",
                )
            )
        for n in range(projectors):
            deployment.projectors.append(
                Service(
                    f"projector-{n}", ["--projector"], deployment.env(), logs / f"projector-{n}.log"
                )
            )
        for n, port in enumerate(ports.apis):
            deployment.apis.append(
                Service(
                    f"api-{n}",
                    ["--api"],
                    deployment.env(SUPPORTES_API_LISTEN=f"127.0.0.1:{port}"),
                    logs / f"api-{n}.log",
                )
            )
        return deployment

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of one of its processes (no other SUPPORTES_ setting leaks in)."""
        own = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTES_")}
        return {
            **own,
            "SUPPORTES_HOME": str(self.settings.home),
            "SUPPORTES_KAFKA_PORT": str(self.ports.kafka),
            "SUPPORTES_KAFKA_CONTROLLER_PORT": str(self.ports.kafka + 1),
            "SUPPORTES_KAFKA_BROKERS": "3",
            "SUPPORTES_PG_PORT": str(self.ports.postgres),
            "SUPPORTES_GROUP_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "SUPPORTES_LOG_FORMAT": "json",
            "SUPPORTES_LOG_LEVEL": "info",
            **extra,
        }

    @property
    def services(self) -> list[Service]:
        """Every serving process."""
        return [*self.writers, *self.projectors, *self.apis]

    @property
    def api_urls(self) -> list[str]:
        """The API replicas' base URLs."""
        return [f"http://127.0.0.1:{port}" for port in self.ports.apis]

    def up(self) -> None:
        """Stack up (three Kafka nodes, PostgreSQL, topics, migrations, KEK), an admin token
        for the workload, then every service; waits until the APIs answer."""
        began = time.monotonic()
        changes = manager.up(self.settings)
        log.info("campaign stack up", changes=changes, seconds=round(time.monotonic() - began, 1))
        conn = connect(self.settings.dsn)
        try:
            self.admin_token = create_token(conn, self.ADMIN, (Role.ADMIN,)).secret
            conn.commit()
        finally:
            conn.close()
        for service in self.services:
            service.start()
        self.wait_for_apis()

    def wait_for_apis(self, timeout_s: float = 120.0) -> None:
        """Until every API replica answers ``/healthz``."""
        import httpx

        deadline = time.monotonic() + timeout_s
        for url in self.api_urls:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"API {url} did not answer in {timeout_s:.0f} s")
                time.sleep(0.5)

    def heal(self) -> None:
        """Every service running again and resumed (after the nemesis)."""
        for service in self.services:
            service.signal(signal.SIGCONT)
            service.start()

    def down(self) -> None:
        """Stop the services, then the stack."""
        for service in self.services:
            try:
                service.stop()
            except Exception:  # a stop must go on to the next one
                log.exception("stopping a service failed", service=service.name)
        manager.down(self.settings)
