"""The local 3-node Kafka cluster of ``stack up --brokers 3``, for fault tests on one machine.

Three combined KRaft nodes (broker and controller) on 127.0.0.1 with node ids 1-3, client ports
``SUPPORTES_KAFKA_PORT`` +0/+2/+4 and controller ports ``SUPPORTES_KAFKA_CONTROLLER_PORT``
+0/+2/+4, a static quorum (``controller.quorum.voters``), one cluster id, and each node's files
under ``<home>/kafka-cluster/node-N``. Secured exactly as the single node
(:mod:`supportes.stack.kafka_local`: same SCRAM users, same ACLs) and durable like production
(design section 10): replication factor 3, ``min.insync.replicas=2``, no unclean elections.
Nodes can be killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT) one at a time.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from supportes.errors import StackError, UsageError
from supportes.logs import get_logger
from supportes.messaging.security import ADMIN_USER
from supportes.settings import LOCAL_HOST, Settings, env_name
from supportes.stack import kafka_local, processes
from supportes.stack.java import find_java
from supportes.stack.kafka_admin import registered_brokers
from supportes.stack.kafka_local import NodeSpec
from supportes.stack.layout import KafkaPaths, kafka_node_paths

log = get_logger("stack.kafka_cluster")

SIZE = 3
REPLICA_LAG_MS = 5000
"""How long a follower may fall behind before it leaves the ISR (Kafka's default: 30 s). 5 s
shows a lagging node soon, yet a GC pause or a busy 2-core machine does not shrink the ISR. A
killed or paused node leaves it sooner or later anyway: the controller fences a broker that
misses heartbeats for ``broker.session.timeout.ms`` (9 s)."""


def durability_properties() -> dict[str, str]:
    """What the cluster adds to each node's :func:`~kafka_local.node_properties`: production's
    durability (design section 10) and a short replica lag for tests."""
    return {
        "default.replication.factor": str(SIZE),
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": str(SIZE),
        "transaction.state.log.replication.factor": str(SIZE),
        "transaction.state.log.min.isr": "2",
        "unclean.leader.election.enable": "false",
        "replica.lag.time.max.ms": str(REPLICA_LAG_MS),
    }


def cluster_nodes(settings: Settings) -> list[NodeSpec]:
    """The three nodes: ids 1-3, ports ``KAFKA_PORT``/``KAFKA_CONTROLLER_PORT`` +0, +2, +4."""
    return [
        NodeSpec(i + 1, settings.kafka_port + 2 * i, settings.kafka_controller_port + 2 * i)
        for i in range(SIZE)
    ]


def node_name(node_id: int) -> str:
    """``kafka-N``, the node's name in ``stack status`` and ``stack kill|pause|resume``."""
    return f"kafka-{node_id}"


def parse_node(text: str) -> int:
    """The node id of ``kafka-N`` or ``N`` (1-3); UsageError naming the argument otherwise."""
    match = re.fullmatch(r"(?:kafka-)?([0-9]+)", text.strip())
    if match is None or not 1 <= int(match.group(1)) <= SIZE:
        names = ", ".join(node_name(i) for i in range(1, SIZE + 1))
        raise UsageError(f"NODE {text!r}: expected one of {names} (or 1-{SIZE})")
    return int(match.group(1))


def node_config(settings: Settings, node: NodeSpec, admin_password: str) -> dict[str, str]:
    """``server.properties`` of one node of the cluster (a pure function of the settings)."""
    paths = kafka_node_paths(settings, node.node_id)
    quorum = cluster_nodes(settings)
    props = kafka_local.node_properties(
        settings, node, quorum, paths.data, admin_password, static_voters=True
    )
    props.update(durability_properties())
    return props


class NodeState(StrEnum):
    """What a node's process is doing."""

    UP = "up"  # alive (whether it answers is the cluster's to say)
    PAUSED = "paused"  # stopped by SIGSTOP (state T in /proc/PID/stat)
    DOWN = "down"  # no live process


@dataclass(frozen=True)
class NodeProcess:
    """One node of the cluster and its process."""

    spec: NodeSpec
    paths: KafkaPaths
    pid: int | None
    state: NodeState

    @property
    def name(self) -> str:
        """``kafka-N``."""
        return node_name(self.spec.node_id)

    @property
    def address(self) -> str:
        """Its client listener, ``127.0.0.1:port``."""
        return f"{self.spec.host}:{self.spec.port}"


def process_state(pid: int) -> NodeState:
    """UP, PAUSED (``T``/``t`` in ``/proc/PID/stat``) or DOWN (gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return NodeState.DOWN
    letter = stat.rsplit(")", 1)[-1].split()[0]
    if letter in "Tt":
        return NodeState.PAUSED
    return NodeState.DOWN if letter in "ZX" else NodeState.UP


def nodes(settings: Settings) -> list[NodeProcess]:
    """Every node of the cluster under ``SUPPORTES_HOME`` with its pid and state."""
    found: list[NodeProcess] = []
    for spec in cluster_nodes(settings):
        paths = kafka_node_paths(settings, spec.node_id)
        pid = processes.read_pid(paths.pid_file)
        state = NodeState.DOWN if pid is None else process_state(pid)
        found.append(NodeProcess(spec, paths, pid if state is not NodeState.DOWN else None, state))
    return found


def running(settings: Settings) -> list[NodeProcess]:
    """The nodes with a live process (up or paused)."""
    return [n for n in nodes(settings) if n.pid is not None]


def start(settings: Settings) -> list[str]:
    """Start every node that is down (together) and resume paused ones, then wait until all
    three brokers are registered; return what changed (nothing when all run)."""
    check_ports(settings)
    cluster = nodes(settings)
    changes: list[str] = []
    for node in cluster:
        if node.state is NodeState.PAUSED and node.pid is not None:
            processes.signal_process(node.pid, signal.SIGCONT)
            changes.append(f"resumed {node.name} (pid {node.pid})")
    down = [n for n in cluster if n.state is NodeState.DOWN]
    spawned: list[tuple[NodeProcess, subprocess.Popen[bytes]]] = []
    if down:
        check_ports(settings, down)
        java = find_java()
        classpath = f"{kafka_local.resolve_jars(settings)}/*"
        users = kafka_local.component_passwords(settings)
        for node in down:
            node.paths.logs.mkdir(parents=True, exist_ok=True)
            config = node_config(settings, node.spec, users[ADMIN_USER])
            kafka_local.write_private(node.paths.config, _text(config))
        unformatted = [n for n in down if not (n.paths.data / "meta.properties").exists()]
        if unformatted:
            cluster_id = _cluster_id(cluster) or kafka_local._new_cluster_id()
            _parallel(
                lambda n: kafka_local.format_storage(
                    java, classpath, n.paths.config, users, standalone=False, cluster_id=cluster_id
                ),
                unformatted,
            )
        spawned = [(n, kafka_local.spawn(settings, java, classpath, n.paths)) for n in down]
        changes += [f"started {n.name} on {n.address}" for n in down]
    _await_brokers(settings, spawned)
    return changes


def check_ports(settings: Settings, down: list[NodeProcess] | None = None) -> None:
    """Every node's ports must exist, and those of the nodes about to start (``down``) be
    free; StackError naming the setting and offset otherwise."""
    for node in cluster_nodes(settings):
        about_to_start = down is not None and any(n.spec == node for n in down)
        offset = 2 * (node.node_id - 1)
        for setting, port in (
            ("kafka_port", node.port),
            ("kafka_controller_port", node.controller_port),
        ):
            if port > 65535:
                problem = "beyond 65535"
            elif about_to_start and not processes.port_bindable(LOCAL_HOST, port):
                problem = "in use by another process"
            else:
                continue
            name = f"{env_name(setting)}+{offset}, {node_name(node.node_id)}"
            raise StackError(f"port {LOCAL_HOST}:{port} ({name}) is {problem}")


def _cluster_id(cluster: list[NodeProcess]) -> str | None:
    """The cluster id a node was formatted with (a replaced node joins the same cluster)."""
    for node in cluster:
        with contextlib.suppress(OSError):
            for line in (node.paths.data / "meta.properties").read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
    return None


def _await_brokers(
    settings: Settings, spawned: list[tuple[NodeProcess, subprocess.Popen[bytes]]]
) -> None:
    """Wait until the three brokers are registered, as every node this call started says
    itself; a node that exits or a time-out stops those this call started and fails naming
    the node. (The cluster alone is not enough: a node killed less than
    ``broker.session.timeout.ms`` ago is still registered, so ``start`` returned while it was
    booting; the fault campaign's next fault then hit a second node: two of three down.)"""

    def ready() -> bool:
        if any(p.poll() is not None for _, p in spawned):
            return True
        if not all(processes.listening(node.spec.host, node.spec.port) for node, _ in spawned):
            return False  # connect only once a node listens: see processes.listening
        if len(registered_brokers(settings)) != SIZE:
            return False
        return all(
            len(registered_brokers(settings, bootstrap=[node.address])) == SIZE
            for node, _ in spawned
        )

    done = processes.wait_until(ready, timeout_s=settings.startup_timeout_s, interval_s=0.5)
    exited = [(n, p) for n, p in spawned if p.poll() is not None]
    if done and not exited:
        return
    reasons = {n.name: kafka_local.abandon_start(settings, p, n.paths) for n, p in spawned}
    culprit = exited[0][0].name if exited else next(iter(reasons), "")
    if culprit:
        raise StackError(f"{culprit}: {reasons[culprit]}")
    raise StackError(
        f"the Kafka cluster at {settings.bootstrap_servers} does not have "
        f"{SIZE} brokers registered after {settings.startup_timeout_s:g}s"
    )


def stop(settings: Settings) -> list[str]:
    """Stop every live node together (paused ones are resumed first so they can shut down);
    return the names of those stopped."""
    live = running(settings)
    for node in live:
        if node.state is NodeState.PAUSED and node.pid is not None:
            processes.signal_process(node.pid, signal.SIGCONT)

    def stop_one(node: NodeProcess) -> None:
        assert node.pid is not None
        log.info("stopping kafka node", node=node.name, pid=node.pid)
        if not processes.terminate(node.pid, timeout_s=60):
            log.warning("kafka node did not stop in time; killed", node=node.name, pid=node.pid)
        node.paths.pid_file.unlink(missing_ok=True)

    _parallel(stop_one, live)
    return [n.name for n in live]


def kill(settings: Settings, node_id: int) -> str:
    """SIGKILL a node (a crash: no controlled shutdown); return what was done."""
    node = _live(settings, node_id)
    assert node.pid is not None
    processes.signal_process(node.pid, signal.SIGKILL)
    processes.wait_until(lambda: process_state(node.pid or 0) is NodeState.DOWN, timeout_s=10)
    node.paths.pid_file.unlink(missing_ok=True)
    log.info("killed kafka node", node=node.name, pid=node.pid)
    return f"killed {node.name} (pid {node.pid})"


def pause(settings: Settings, node_id: int) -> str:
    """SIGSTOP a node (a frozen host: connections stay open, nothing answers)."""
    return _stop_or_continue(settings, node_id, signal.SIGSTOP, NodeState.PAUSED, "paused")


def resume(settings: Settings, node_id: int) -> str:
    """SIGCONT a paused node."""
    return _stop_or_continue(settings, node_id, signal.SIGCONT, NodeState.UP, "resumed")


def _stop_or_continue(
    settings: Settings, node_id: int, sig: signal.Signals, wanted: NodeState, verb: str
) -> str:
    node = _live(settings, node_id)
    assert node.pid is not None
    if node.state is wanted:
        return f"{node.name} (pid {node.pid}) is already {wanted.value}"
    processes.signal_process(node.pid, sig)
    processes.wait_until(lambda: process_state(node.pid or 0) is wanted, timeout_s=10)
    log.info(f"{verb} kafka node", node=node.name, pid=node.pid)
    return f"{verb} {node.name} (pid {node.pid})"


def _live(settings: Settings, node_id: int) -> NodeProcess:
    node = next(n for n in nodes(settings) if n.spec.node_id == node_id)
    if node.pid is None:
        raise StackError(
            f"{node.name} is not running under {settings.home_dir} "
            "(start it: supportes stack up --brokers 3)"
        )
    return node


def _parallel(work: Callable[[NodeProcess], object], items: list[NodeProcess]) -> None:
    """Run ``work`` on every node at once (JVM starts are slow); re-raise the first error."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def _text(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())
