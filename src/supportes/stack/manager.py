"""``supportes stack up|down|status``: bring Kafka, topics, PostgreSQL and migrations to a state.

``up`` also creates the local key-encryption key (``<home>/secrets/kek``, design section 9) when
``SUPPORTES_KEK_FILE`` is unset and there is none; a configured KEK file is never made here.

For each part, a configured external service (``SUPPORTES_KAFKA_BOOTSTRAP``/``SUPPORTES_PG_DSN``)
replaces the local one: nothing is started for it, but topics and migrations are still ensured.
A background ``supportes serve --detach`` is part of the stack too: ``status`` shows it (it is
optional) and ``down`` stops it first.

``SUPPORTES_KAFKA_BROKERS=3`` (``stack up --brokers 3``) makes the local Kafka a 3-node cluster
(:mod:`supportes.stack.kafka_cluster`); one home runs either it or the single node, never both.
``kafka_only`` leaves PostgreSQL, the migrations and the KEK alone (fault tests of Kafka).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import psycopg2
from kafka.errors import KafkaError

from supportes.db.connect import redact_dsn
from supportes.db.migrate import migrate_database
from supportes.errors import ConfigError, StackError
from supportes.logs import get_logger
from supportes.messaging.security import legacy_local_broker
from supportes.ops.parked_records import parked_counts
from supportes.privacy.kek import create_kek_file
from supportes.settings import Settings
from supportes.stack import (
    kafka_cluster,
    kafka_local,
    postgres_local,
    processes,
    serve_health,
    serve_process,
)
from supportes.stack.kafka_admin import (
    ReplicationReport,
    broker_answers,
    ensure_topics_and_acls,
    replication_report,
    require_broker,
    security_summary,
)
from supportes.stack.kafka_cluster import NodeState
from supportes.stack.layout import kafka_paths
from supportes.stack.secrets import secrets_dir

log = get_logger("stack")


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``stack status``."""

    component: str
    running: bool
    managed: str  # "local" (started by supportes) or "external"
    address: str
    detail: str
    required: bool = True  # False: ``status`` does not fail when it is not running
    paused: bool = False  # a Kafka node stopped by SIGSTOP: not serving, not down either
    facts: dict[str, object] = field(default_factory=dict)  # extra JSON fields (Kafka nodes)

    @property
    def state(self) -> str:
        """``up``, ``paused``, ``DOWN`` (a required part) or ``stopped`` (an optional one)."""
        if self.running:
            return "up"
        if self.paused:
            return "paused"
        return "DOWN" if self.required else "stopped"

    @property
    def failed(self) -> bool:
        """A required part that is down (``status`` exits 1)."""
        return self.required and not self.running and not self.paused

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (``facts`` only where there are some)."""
        found = asdict(self)
        del found["paused"]
        if not self.facts:
            del found["facts"]
        return {**found, "state": self.state}


def up(settings: Settings, *, kafka_only: bool = False) -> list[str]:
    """Start what is local and missing, then ensure topics and migrations; return what changed."""
    changes: list[str] = []
    if settings.kafka_is_local:
        refuse_other_kafka(settings)
        if settings.kafka_brokers == kafka_cluster.SIZE:
            changes += kafka_cluster.start(settings)
        elif kafka_local.start(settings):
            changes.append(f"started kafka on {settings.bootstrap_servers}")
        users = [] if legacy_local_broker(settings) else kafka_local.ensure_users(settings)
        if users:
            changes.append(f"added kafka users {', '.join(users)}")
    else:
        require_broker(settings)
    created, acls = ensure_topics_and_acls(settings)
    if created:
        changes.append(f"created topics {', '.join(created)}")
    if acls:
        changes.append(f"created {acls} kafka ACLs for prefix {settings.topic_prefix}")
    if kafka_only:
        log.info("stack up (kafka only)", changes=changes or ["nothing to do"])
        return changes
    if settings.kek_file is None:  # the local KEK; a configured one is the operator's to make
        secrets_dir(settings)
        if create_kek_file(settings.kek_path):
            changes.append(f"created the key-encryption key {settings.kek_path}")
    if settings.pg_is_local and postgres_local.start(settings):
        changes.append(f"started postgres on {redact_dsn(settings.dsn)}")
    applied = migrate_database(settings.dsn, timeout_s=settings.connect_timeout_s)
    if applied:
        changes.append("applied migrations " + ", ".join(f"{m.version:04d}" for m in applied))
    log.info("stack up", changes=changes or ["nothing to do"])
    return changes


def refuse_other_kafka(settings: Settings) -> None:
    """StackError naming the setting when the other kind of local Kafka (single node or 3-node
    cluster) runs under this home: they share ports and credentials."""
    home = settings.home_dir
    if settings.kafka_brokers == kafka_cluster.SIZE:
        pid = processes.read_pid(kafka_paths(settings).pid_file)
        if pid is not None:
            raise StackError(
                f"the single-node local Kafka (pid {pid}) runs under {home}: stop it first "
                "(supportes stack down), or keep SUPPORTES_KAFKA_BROKERS=1 (no --brokers 3)"
            )
        return
    cluster = kafka_cluster.running(settings)
    if cluster:
        names = ", ".join(n.name for n in cluster)
        raise StackError(
            f"the 3-node local Kafka cluster ({names}) runs under {home}: set "
            "SUPPORTES_KAFKA_BROKERS=3 (or pass --brokers 3), or stop it first "
            "(supportes stack down)"
        )


def down(settings: Settings, *, kafka_only: bool = False) -> list[str]:
    """Stop the local servers (external ones are left alone), the single Kafka node and the
    3-node cluster alike; return what changed."""
    changes: list[str] = []
    if not kafka_only and serve_process.stop(settings):
        changes.append("stopped serve")
    if settings.kafka_is_local and kafka_local.stop(settings):
        changes.append("stopped kafka")
    if settings.kafka_is_local and (stopped := kafka_cluster.stop(settings)):
        changes.append(f"stopped {', '.join(stopped)}")
    if not kafka_only and settings.pg_is_local and postgres_local.stop(settings):
        changes.append("stopped postgres")
    log.info("stack down", changes=changes or ["nothing to do"])
    return changes


def status(settings: Settings, *, kafka_only: bool = False) -> list[ComponentStatus]:
    """What runs where; ``running`` is False for anything that does not answer."""
    if settings.kafka_is_local and settings.kafka_brokers == kafka_cluster.SIZE:
        kafka = cluster_status(settings)
    else:
        kafka = [_kafka_status(settings)]
    if kafka_only:
        return kafka
    postgres = _postgres_status(settings)
    found = [*kafka, postgres, _serve_status(settings)]
    if postgres.running:
        found.append(_parked_status(settings))
    return found


def _serve_status(settings: Settings) -> ComponentStatus:
    serve = serve_process.state(settings)
    roles = serve_health.read(settings)
    if serve.pid is None:
        detail = "not running (start: supportes serve --detach, or make run)"
        if roles is not None:
            detail = "running in the foreground"
    else:
        detail = f"pid {serve.pid}" + ("" if serve.ready else ", starting")
    if roles:
        detail += "; " + serve_health.describe(roles)
    running = serve.running or roles is not None
    return ComponentStatus("serve", running, "local", str(serve.log_file), detail, False)


def _parked_status(settings: Settings) -> ComponentStatus:
    """Records the index or the projections set aside (never a failure: they are kept)."""
    try:
        counts = parked_counts(settings)
    except (ConfigError, psycopg2.Error) as exc:
        return ComponentStatus("parked", False, "local", "", str(exc).splitlines()[0], False)
    detail = (
        f"{counts['event_index']} in the event index (raw bytes), {counts['projections']} in"
        " projections"
    )
    if any(counts.values()):
        detail += "; list them: supportes projections parked"
    return ComponentStatus("parked", True, "local", redact_dsn(settings.dsn), detail, False)


def _kafka_status(settings: Settings) -> ComponentStatus:
    if settings.kafka_is_local:
        kafka = kafka_local.state(settings)
        detail = f"pid {kafka.pid}, state {kafka.state_dir}" if kafka.pid else "not running"
        if not kafka.pid and (cluster := kafka_cluster.running(settings)):
            detail += (
                f"; the 3-node cluster runs here ({', '.join(n.name for n in cluster)}): "
                "SUPPORTES_KAFKA_BROKERS=3 or --brokers 3 shows it"
            )
        if kafka.running:
            detail += f"; {security_summary(settings)}"
        return ComponentStatus("kafka", kafka.running, "local", kafka.bootstrap, detail)
    answers = broker_answers(settings, timeout_s=settings.connect_timeout_s)
    return ComponentStatus(
        "kafka",
        answers,
        "external",
        settings.bootstrap_servers,
        f"answers metadata requests; {security_summary(settings)}" if answers else "unreachable",
    )


_NODE_TIMEOUT_S = 3.0
"""Per request of ``status`` to the cluster: until the controller fences a paused node (9 s),
a request may still go to it and wait this long before the next attempt goes elsewhere."""


def cluster_status(settings: Settings) -> list[ComponentStatus]:
    """The 3-node cluster: a ``kafka`` row (registered brokers, under-replicated partitions,
    security) and a row per node (pid; up, paused or DOWN; partitions it leads)."""
    found = kafka_cluster.nodes(settings)
    live = [n.address for n in found if n.state is NodeState.UP]
    report: ReplicationReport | None = None
    problem = "no node is up"
    if (single := processes.read_pid(kafka_paths(settings).pid_file)) is not None:
        problem += f"; the single-node Kafka runs here (pid {single}): SUPPORTES_KAFKA_BROKERS=1"
    if live:
        try:  # through the running nodes only: a paused one accepts and never answers
            report = replication_report(settings, _NODE_TIMEOUT_S, bootstrap=live)
        except KafkaError as exc:
            problem = f"no answer from {', '.join(live)} ({type(exc).__name__})"
    rows = [_cluster_row(settings, report, problem, live)]
    for node in found:
        leaders = report.leaders.get(node.spec.node_id, 0) if report else None
        registered = node.spec.node_id in report.brokers if report else None
        if node.state is NodeState.DOWN:
            detail = "not running (start: supportes stack up --brokers 3)"
        elif node.state is NodeState.PAUSED:
            detail = f"pid {node.pid}, paused (SIGSTOP; supportes stack resume {node.name})"
        else:
            detail = f"pid {node.pid}" + ("" if registered is not False else ", not registered")
        if leaders is not None and node.state is not NodeState.DOWN:
            detail += f", leads {leaders} partitions"
        facts: dict[str, object] = {
            "node_id": node.spec.node_id,
            "pid": node.pid,
            "leaders": leaders,
            "registered": registered,
        }
        running = node.state is NodeState.UP
        paused = node.state is NodeState.PAUSED
        rows.append(
            ComponentStatus(node.name, running, "local", node.address, detail, True, paused, facts)
        )
    return rows


def _cluster_row(
    settings: Settings, report: ReplicationReport | None, problem: str, live: list[str]
) -> ComponentStatus:
    address = settings.bootstrap_servers
    if report is None:
        return ComponentStatus("kafka", False, "local", address, problem)
    lagging = report.under_replicated
    replication = "no under-replicated partitions"
    if lagging:
        more = f" and {len(lagging) - 3} more" if len(lagging) > 3 else ""
        listed = ", ".join(map(str, lagging[:3]))
        replication = f"{len(lagging)} under-replicated partitions: {listed}{more}"
    registered = f"{len(report.brokers)} of {kafka_cluster.SIZE} brokers registered"
    security = security_summary(settings, bootstrap=live, timeout_s=_NODE_TIMEOUT_S)
    detail = f"{registered}; {replication}; {security}"
    facts: dict[str, object] = {
        "brokers": report.brokers,
        "under_replicated": [asdict(u) for u in lagging],
    }
    return ComponentStatus("kafka", True, "local", address, detail, facts=facts)


def _postgres_status(settings: Settings) -> ComponentStatus:
    address = redact_dsn(settings.dsn)
    if settings.pg_is_local:
        pg = postgres_local.state(settings)
        detail = f"pid {pg.pid}, data {pg.data_dir}" if pg.pid else "not running"
        return ComponentStatus("postgres", pg.running, "local", address, detail)
    try:
        psycopg2.connect(settings.dsn, connect_timeout=int(settings.connect_timeout_s)).close()
    except psycopg2.Error as exc:
        return ComponentStatus("postgres", False, "external", address, str(exc).splitlines()[0])
    return ComponentStatus("postgres", True, "external", address, "accepts connections")
