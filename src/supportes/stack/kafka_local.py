"""The local Kafka broker: Maven Central jars, KRaft single node, state under SUPPORTES_HOME."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.settings import LOCAL_HOST, Settings
from supportes.stack import processes
from supportes.stack.java import find_java
from supportes.stack.kafka_admin import broker_answers
from supportes.stack.layout import KafkaPaths, cache_dir, deploy_dir, kafka_paths

log = get_logger("stack.kafka")
_JARS_COMPLETE = ".complete"


@dataclass(frozen=True)
class KafkaState:
    """What the local broker is doing now."""

    running: bool
    pid: int | None
    bootstrap: str
    state_dir: Path


def jars_dir(settings: Settings) -> Path:
    """Where the broker's runtime classpath for ``SUPPORTES_KAFKA_VERSION`` is kept."""
    return cache_dir() / f"kafka-{settings.kafka_version}" / "libs"


def resolve_jars(settings: Settings) -> Path:
    """Resolve the broker jars with Maven into the cache (a no-op once they are there)."""
    target = jars_dir(settings)
    if (target / _JARS_COMPLETE).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn (Maven) not found on PATH: needed once to fetch the Kafka jars")
    pom = deploy_dir() / "kafka" / "pom.xml"
    staging = target.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("resolving kafka jars", version=settings.kafka_version, into=str(target))
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-Dkafka.version={settings.kafka_version}",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        errors = [ln for ln in result.stdout.splitlines() if "ERROR" in ln][:1]
        raise StackError(
            f"Maven could not resolve Kafka {settings.kafka_version} (SUPPORTES_KAFKA_VERSION): "
            + (errors[0] if errors else result.stderr.strip()[:300])
        )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / _JARS_COMPLETE).write_text(settings.kafka_version + "\n")
    return target


def server_properties(settings: Settings, paths: KafkaPaths) -> str:
    """``server.properties`` of a single-node KRaft broker+controller tuned small for a laptop."""
    port, cport = settings.kafka_port, settings.kafka_controller_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://{LOCAL_HOST}:{port},CONTROLLER://{LOCAL_HOST}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{LOCAL_HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"{LOCAL_HOST}:{cport}",
        "log.dirs": str(paths.data),
        "num.partitions": str(settings.partitions),
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def state(settings: Settings) -> KafkaState:
    """Whether the local broker runs (its pid is alive and it answers metadata requests)."""
    paths = kafka_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    running = pid is not None and broker_answers(settings.bootstrap_servers, timeout_s=2.0)
    return KafkaState(running, pid, settings.bootstrap_servers, paths.root)


def start(settings: Settings) -> bool:
    """Start the local broker unless it runs; return True when this call started it."""
    paths = kafka_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    if pid is not None:
        if processes.wait_until(
            lambda: broker_answers(settings.bootstrap_servers), timeout_s=settings.startup_timeout_s
        ):
            return False
        raise StackError(
            f"local Kafka (pid {pid}) runs but does not answer on {settings.bootstrap_servers}; "
            f"see {paths.logs / 'server.log'}"
        )
    for name, port in (
        ("SUPPORTES_KAFKA_PORT", settings.kafka_port),
        ("SUPPORTES_KAFKA_CONTROLLER_PORT", settings.kafka_controller_port),
    ):
        if not processes.port_bindable(LOCAL_HOST, port):
            raise StackError(f"port {LOCAL_HOST}:{port} ({name}) is in use by another process")
    java = find_java()
    jars = resolve_jars(settings)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings, paths))
    classpath = f"{jars}/*"
    if not (paths.data / "meta.properties").exists():
        _format_storage(java, classpath, paths)
    log4j = deploy_dir() / "kafka" / "log4j2.properties"
    heap = settings.kafka_heap
    command = [
        str(java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(paths.config),
    ]
    stdout = (paths.logs / "stdout.log").open("ab")
    process = subprocess.Popen(
        command,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=paths.root,
    )
    stdout.close()
    paths.pid_file.write_text(f"{process.pid}\n")
    log.info("starting kafka", pid=process.pid, bootstrap=settings.bootstrap_servers)
    ready = processes.wait_until(
        lambda: process.poll() is not None or broker_answers(settings.bootstrap_servers),
        timeout_s=settings.startup_timeout_s,
        interval_s=0.3,
    )
    if process.poll() is not None or not ready:
        processes.terminate(process.pid, timeout_s=5)
        paths.pid_file.unlink(missing_ok=True)
        last = processes.tail(paths.logs / "server.log", 3) or processes.tail(
            paths.logs / "stdout.log", 3
        )
        raise StackError(
            f"local Kafka did not start within {settings.startup_timeout_s:g}s "
            f"(see {paths.logs}): {last.splitlines()[-1] if last else 'no output'}"
        )
    return True


def _format_storage(java: Path, classpath: str, paths: KafkaPaths) -> None:
    cluster_id = _new_cluster_id()
    result = subprocess.run(
        [
            str(java),
            "-Xmx256m",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(paths.config),
            "--standalone",
            "-g",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
    )
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed: {result.stderr.strip()[:300]}")
    log.info("formatted kafka storage", cluster_id=cluster_id, log_dir=str(paths.data))


def _new_cluster_id() -> str:
    """A Kafka cluster id: base64url of a random UUID without padding, never starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def stop(settings: Settings) -> bool:
    """Stop the local broker (controlled shutdown); return True when it was running."""
    paths = kafka_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    if pid is None:
        return False
    log.info("stopping kafka", pid=pid)
    if not processes.terminate(pid, timeout_s=60):
        log.warning("kafka did not stop in time; killed", pid=pid)
    paths.pid_file.unlink(missing_ok=True)
    return True
