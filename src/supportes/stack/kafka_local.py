"""The local Kafka broker: Maven Central jars, KRaft single node, state under SUPPORTES_HOME.

Secured like a production cluster (design section 8): SASL/SCRAM-SHA-512, StandardAuthorizer,
no access without an ACL; the SCRAM users of every component are written at format time and
their passwords kept under ``<home>/secrets``. :func:`node_properties`, :func:`spawn` and
:func:`format_storage` serve any node: the 3-node cluster (``kafka_cluster``) reuses them.
"""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka.admin import ScramMechanism

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.messaging.security import (
    ADMIN_USER,
    Component,
    legacy_local_broker,
    local_username,
    password_secret,
)
from supportes.settings import LOCAL_HOST, Settings
from supportes.stack import processes
from supportes.stack.java import find_java
from supportes.stack.kafka_acls import ensure_scram_users
from supportes.stack.kafka_admin import admin_client, broker_answers
from supportes.stack.layout import KafkaPaths, cache_dir, deploy_dir, kafka_paths
from supportes.stack.secrets import read_or_create_secret

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


@dataclass(frozen=True)
class NodeSpec:
    """One KRaft node (combined broker and controller) of a local cluster."""

    node_id: int
    port: int
    controller_port: int
    host: str = LOCAL_HOST

    @property
    def controller_address(self) -> str:
        """``host:port`` of its controller listener."""
        return f"{self.host}:{self.controller_port}"


def local_node(settings: Settings) -> NodeSpec:
    """The single node of ``stack up``: ``SUPPORTES_KAFKA_PORT``/``_CONTROLLER_PORT``."""
    return NodeSpec(1, settings.kafka_port, settings.kafka_controller_port)


def _jaas(module: str, password: str, *, plain_users: bool = False) -> str:
    users = f' user_{ADMIN_USER}="{password}"' if plain_users else ""
    return (
        f"org.apache.kafka.common.security.{module} required "
        f'username="{ADMIN_USER}" password="{password}"{users};'
    )


def security_properties(admin_password: str) -> dict[str, str]:
    """SASL and authorization of every node: SCRAM-SHA-512 on the client (and inter-broker)
    listener, PLAIN on the controller listener (SCRAM needs metadata the controllers serve),
    StandardAuthorizer with ``admin`` the only super user and no access without an ACL."""
    return {
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": _jaas(
            "scram.ScramLoginModule", admin_password
        ),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            "plain.PlainLoginModule", admin_password, plain_users=True
        ),
        "sasl.mechanism.controller.protocol": "PLAIN",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def node_properties(
    settings: Settings,
    node: NodeSpec,
    quorum: Sequence[NodeSpec],
    log_dir: Path,
    admin_password: str | None,
    *,
    static_voters: bool = False,
) -> dict[str, str]:
    """``server.properties`` of ``node``, a combined broker+controller of ``quorum`` (all the
    nodes, ``node`` among them), tuned small for a laptop. ``admin_password`` None: the
    unsecured PLAINTEXT form, used once to upgrade a broker formatted before SASL.
    ``static_voters``: a fixed ``controller.quorum.voters`` instead of a dynamic (KIP-853)
    quorum found through ``controller.quorum.bootstrap.servers``."""
    secured = admin_password is not None
    client = "SASL_PLAINTEXT" if secured else "PLAINTEXT"
    replicas = str(min(3, len(quorum)))
    min_isr = str(min(2, len(quorum)))
    quorum_key = "controller.quorum.bootstrap.servers"
    quorum_value = ",".join(n.controller_address for n in quorum)
    if static_voters:
        quorum_key = "controller.quorum.voters"
        quorum_value = ",".join(f"{n.node_id}@{n.controller_address}" for n in quorum)
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "listeners": f"{client}://{node.host}:{node.port},CONTROLLER://{node.controller_address}",
        "advertised.listeners": f"{client}://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "listener.security.protocol.map": f"{client}:{client},CONTROLLER:{client}",
        quorum_key: quorum_value,
        "log.dirs": str(log_dir),
        "num.partitions": str(settings.partitions),
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
    }
    if admin_password is not None:
        lines.update(security_properties(admin_password))
    return lines


def server_properties(settings: Settings, paths: KafkaPaths, admin_password: str | None) -> str:
    """``server.properties`` of the single local node (``admin_password`` None: unsecured)."""
    node = local_node(settings)
    lines = node_properties(settings, node, [node], paths.data, admin_password)
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def component_passwords(settings: Settings) -> dict[str, str]:
    """Principal name -> password of every component on the local broker (created if new)."""
    return {
        local_username(c): read_or_create_secret(settings, password_secret(c)) for c in Component
    }


def scram_arguments(users: Mapping[str, str], mechanism: str = "SCRAM-SHA-512") -> list[str]:
    """StorageTool ``--add-scram`` arguments creating ``users`` (name -> password) at format."""
    arguments: list[str] = []
    for name, password in users.items():
        arguments += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
    return arguments


def state(settings: Settings) -> KafkaState:
    """Whether the local broker runs (its pid is alive and it answers metadata requests)."""
    paths = kafka_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    running = pid is not None and broker_answers(settings, timeout_s=2.0)
    return KafkaState(running, pid, settings.bootstrap_servers, paths.root)


def _secured_marker(paths: KafkaPaths) -> Path:
    """Present once the metadata holds the SCRAM users (formatted with them, or upgraded)."""
    return paths.root / "scram-users"


def _unsecured(settings: Settings) -> Settings:
    """Settings of a PLAINTEXT client (the one start that upgrades an old broker)."""
    return settings.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})


def start(settings: Settings) -> bool:
    """Start the local broker unless it runs; return True when this call started it.

    A data directory formatted before the broker was secured is upgraded first: one start
    without SASL adds the SCRAM users through the admin API, then the secured start follows.
    """
    paths = kafka_paths(settings)
    pid = processes.read_pid(paths.pid_file)
    if pid is not None:
        if legacy_local_broker(settings):
            log.warning(
                "the running local kafka was started without SASL: clients use PLAINTEXT and "
                "no ACLs apply; secure it with supportes stack down, then supportes stack up",
                pid=pid,
            )
        if processes.wait_until(
            lambda: client_port_listens(settings) and broker_answers(settings),
            timeout_s=settings.startup_timeout_s,
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
    classpath = f"{resolve_jars(settings)}/*"
    paths.logs.mkdir(parents=True, exist_ok=True)
    users = component_passwords(settings)
    secured = server_properties(settings, paths, users[ADMIN_USER])
    if not (paths.data / "meta.properties").exists():
        write_private(paths.config, secured)
        format_storage(java, classpath, paths.config, users, standalone=True)
        _secured_marker(paths).write_text("".join(f"{name}\n" for name in users))
    elif not _secured_marker(paths).exists():
        _upgrade(settings, java, classpath, paths, users)
    write_private(paths.config, secured)
    _launch(settings, java, classpath, paths, lambda: broker_answers(settings))
    return True


def _upgrade(
    settings: Settings, java: Path, classpath: str, paths: KafkaPaths, users: Mapping[str, str]
) -> None:
    """Add the SCRAM users to a broker formatted before SASL: start it once unsecured."""
    log.info("securing kafka formatted without SASL: adding scram users", users=list(users))
    plain = _unsecured(settings)
    write_private(paths.config, server_properties(settings, paths, None))
    pid = _launch(plain, java, classpath, paths, lambda: broker_answers(plain))
    try:
        with admin_client(plain, settings.connect_timeout_s) as admin:
            ensure_scram_users(admin, dict(users), ScramMechanism.SCRAM_SHA_512)
    finally:
        processes.terminate(pid, timeout_s=60)
        paths.pid_file.unlink(missing_ok=True)
    _secured_marker(paths).write_text("".join(f"{name}\n" for name in users))


def ensure_users(settings: Settings) -> list[str]:
    """Add missing component users to the running secured local broker (admin API); return
    the names added (none once ``stack up`` has run with this version)."""
    with admin_client(settings, settings.connect_timeout_s) as admin:
        return ensure_scram_users(
            admin, component_passwords(settings), ScramMechanism.SCRAM_SHA_512
        )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (it holds the admin password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def spawn(
    settings: Settings, java: Path, classpath: str, paths: KafkaPaths
) -> subprocess.Popen[bytes]:
    """Start the node of ``paths.config`` in the background, its pid in ``paths.pid_file``
    (not waiting for it: a cluster's nodes start together)."""
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
    _LOGS_AT_START[str(paths.root)] = {name: _size(paths.logs / name) for name in NODE_LOGS}
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
    log.info("starting kafka", pid=process.pid, state=str(paths.root))
    return process


NODE_LOGS = ("server.log", "stdout.log")
_LOGS_AT_START: dict[str, dict[str, int]] = {}
"""Per node directory: the sizes of its logs when it was last spawned (errors of earlier runs
are not this start's cause)."""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def client_port_listens(settings: Settings) -> bool:
    """True once the local broker listens on its client port (asked before a readiness
    probe connects to it: see processes.listening)."""
    return processes.listening(LOCAL_HOST, settings.kafka_port)


def abandon_start(settings: Settings, process: subprocess.Popen[bytes], paths: KafkaPaths) -> str:
    """Stop a node that exited while starting or did not come up in time; return why: its
    exit code and its logs' first error, else their last line."""
    exit_code = process.poll()
    processes.terminate(process.pid, timeout_s=5)
    paths.pid_file.unlink(missing_ok=True)
    logs = paths.logs
    since = _LOGS_AT_START.pop(str(paths.root), {})
    cause = next(
        (found for name in NODE_LOGS if (found := first_error(logs / name, since.get(name, 0)))),
        "",
    )
    if not cause:
        last = processes.tail(logs / "server.log", 3) or processes.tail(logs / "stdout.log", 3)
        cause = last.splitlines()[-1] if last else "no output"
    if exit_code is not None:
        what = f"local Kafka exited with code {exit_code} while starting"
    else:
        what = f"local Kafka did not start within {settings.startup_timeout_s:g}s"
    return f"{what} (see {logs}): {cause}"


def first_error(log_file: Path, offset: int = 0) -> str:
    """The first ERROR or FATAL line of a Kafka log from byte ``offset`` on (where this start
    began writing) and the exception line after it ('' when none): the cause, where the last
    line is only the shutdown that followed."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for index, line in enumerate(lines):
        if " ERROR " in line or " FATAL " in line:
            continued = itertools.takewhile(
                lambda following: not following.startswith("["), lines[index + 1 : index + 4]
            )  # the entry's own lines: a stack trace, not the next entry
            detail = next((f.strip() for f in continued if "Exception" in f or "Error" in f), "")
            return f"{line} {detail}".strip()
    return ""


def _launch(
    settings: Settings,
    java: Path,
    classpath: str,
    paths: KafkaPaths,
    answers: Callable[[], bool],
) -> int:
    """Run the broker of ``paths.config`` in the background until ``answers``; its pid."""
    process = spawn(settings, java, classpath, paths)
    ready = processes.wait_until(
        lambda: process.poll() is not None or (client_port_listens(settings) and answers()),
        timeout_s=settings.startup_timeout_s,
        interval_s=0.3,
    )
    if process.poll() is not None or not ready:
        raise StackError(abandon_start(settings, process, paths))
    return process.pid


def format_storage(
    java: Path,
    classpath: str,
    config: Path,
    users: Mapping[str, str],
    *,
    standalone: bool = True,
    initial_controllers: str | None = None,
    cluster_id: str | None = None,
) -> str:
    """Format the log directory of ``config`` with SCRAM credentials for ``users`` (KIP-900);
    a single node is ``standalone``, a node of a larger quorum names ``initial_controllers``
    (``id@host:port:directory-id,...``; None with static ``controller.quorum.voters``) and
    shares ``cluster_id``. Returns the cluster id."""
    cluster_id = cluster_id or _new_cluster_id()
    quorum = ["--standalone"] if standalone else []
    if not standalone and initial_controllers:
        quorum = ["--initial-controllers", initial_controllers]
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
            str(config),
            *quorum,
            *scram_arguments(users),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
    )
    if result.returncode != 0:
        # The arguments hold passwords: show the tool's message, never the command.
        raise StackError(f"formatting Kafka storage failed: {result.stderr.strip()[:300]}")
    log.info("formatted kafka storage", cluster_id=cluster_id, config=str(config))
    return cluster_id


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
