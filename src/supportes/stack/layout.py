"""Where the stack keeps its files: state under ``SUPPORTES_HOME``, deploy files in the repo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from supportes.errors import ConfigError
from supportes.settings import Settings


def deploy_dir() -> Path:
    """The repository's ``deploy/`` directory (``SUPPORTES_DEPLOY_DIR`` overrides the search)."""
    override = os.environ.get("SUPPORTES_DEPLOY_DIR")
    candidates = [Path(override)] if override else []
    candidates += [Path(__file__).resolve().parents[3] / "deploy", Path.cwd() / "deploy"]
    for candidate in candidates:
        if (candidate / "kafka" / "pom.xml").is_file():
            return candidate
    raise ConfigError(
        "deploy/kafka/pom.xml not found: run from a supportes checkout or set SUPPORTES_DEPLOY_DIR"
    )


def cache_dir() -> Path:
    """Downloaded artifacts shared by every stack on this machine (``SUPPORTES_CACHE_DIR``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "supportes"
    return Path(os.environ.get("SUPPORTES_CACHE_DIR", default)).expanduser().resolve()


@dataclass(frozen=True)
class KafkaPaths:
    """Files of the local broker."""

    root: Path

    @property
    def data(self) -> Path:
        """Log directory (``log.dirs``)."""
        return self.root / "data"

    @property
    def logs(self) -> Path:
        """Broker logs (``server.log``) and captured stdout."""
        return self.root / "logs"

    @property
    def config(self) -> Path:
        """Generated ``server.properties``."""
        return self.root / "server.properties"

    @property
    def pid_file(self) -> Path:
        """Pid of the running broker."""
        return self.root / "kafka.pid"


@dataclass(frozen=True)
class PostgresPaths:
    """Files of the local PostgreSQL cluster."""

    root: Path

    @property
    def data(self) -> Path:
        """The cluster's data directory (PGDATA)."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Unix socket directory."""
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        """Server log."""
        return self.root / "postgres.log"


@dataclass(frozen=True)
class ServePaths:
    """Files of ``supportes serve --detach`` (the background writer and projector)."""

    root: Path

    @property
    def pid_file(self) -> Path:
        """Pid of the background serve process."""
        return self.root / "serve.pid"

    @property
    def ready_file(self) -> Path:
        """Written by serve once its services run (removed when it starts and stops)."""
        return self.root / "serve.ready"

    @property
    def log_file(self) -> Path:
        """Its JSON log lines (stdout and stderr)."""
        return self.root / "logs" / "serve.log"


def kafka_paths(settings: Settings) -> KafkaPaths:
    """Paths of the local broker under ``SUPPORTES_HOME``."""
    return KafkaPaths(settings.home_dir / "kafka")


def kafka_cluster_dir(settings: Settings) -> Path:
    """State of the local 3-node Kafka cluster (``stack up --brokers 3``): a directory per
    node."""
    return settings.home_dir / "kafka-cluster"


def kafka_node_paths(settings: Settings, node_id: int) -> KafkaPaths:
    """Paths of node ``node_id`` (1-3) of the local cluster: ``<home>/kafka-cluster/node-N``."""
    return KafkaPaths(kafka_cluster_dir(settings) / f"node-{node_id}")


def postgres_paths(settings: Settings) -> PostgresPaths:
    """Paths of the local cluster under ``SUPPORTES_HOME``."""
    return PostgresPaths(settings.home_dir / "pg")


def serve_paths(settings: Settings) -> ServePaths:
    """Paths of the background serve process under ``SUPPORTES_HOME``."""
    return ServePaths(settings.home_dir)
