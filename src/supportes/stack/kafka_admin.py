"""Talking to a broker as an administrator: reachability, topics, ACLs and SCRAM users."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    SaslAuthenticationFailedError,
    SecurityDisabledError,
    TopicAlreadyExistsError,
)

from supportes.errors import ConfigError
from supportes.messaging.security import (
    Component,
    credentials_for,
    security_config,
    security_protocol,
)
from supportes.settings import Settings
from supportes.stack.kafka_acls import acl_bindings, ensure_acls, existing_acls

DAY_MS = 24 * 60 * 60 * 1000
T = TypeVar("T")


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the design (section 2) with its retention and configs."""

    name: str
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The four topics of supportes with the configs of design section 2; with replicas to
    spare, every topic needs two in sync for an acknowledged write (``acks=all``)."""
    min_isr = str(min(2, settings.replication_factor))
    spare = {"min.insync.replicas": min_isr} if settings.replication_factor > 1 else {}
    return [
        TopicSpec(settings.topic("commands"), {"retention.ms": str(7 * DAY_MS), **spare}),
        TopicSpec(
            settings.topic("events"),
            {"retention.ms": "-1", "cleanup.policy": "delete", "min.insync.replicas": min_isr},
        ),
        TopicSpec(settings.topic("results"), {"retention.ms": str(7 * DAY_MS), **spare}),
        TopicSpec(settings.topic("dead-letters"), {"retention.ms": str(30 * DAY_MS), **spare}),
    ]


def probe(settings: Settings, component: Component, timeout_s: float = 2.0) -> str | None:
    """None when the broker answers a metadata request authenticated as ``component``, else why
    not (``"unreachable"`` or ``"authentication failed: ..."``)."""
    try:
        with admin_client(settings, timeout_s, component=component) as admin:
            admin.describe_cluster()
    except SaslAuthenticationFailedError as exc:
        return f"authentication failed: {exc}"
    except (KafkaError, OSError, ValueError):
        return "unreachable"
    return None


def broker_answers(
    settings: Settings, component: Component = Component.ADMIN, timeout_s: float = 2.0
) -> bool:
    """True when the broker answers a metadata request authenticated as ``component``."""
    return probe(settings, component, timeout_s) is None


@contextlib.contextmanager
def admin_client(
    settings: Settings,
    timeout_s: float = 10.0,
    *,
    component: Component = Component.ADMIN,
    bootstrap: Sequence[str] | None = None,
) -> Iterator[KafkaAdminClient]:
    """A KafkaAdminClient authenticated as ``component`` (the admin by default), closed
    afterwards; raises KafkaTimeoutError when nothing answers. ``bootstrap``: these servers
    instead of ``settings.bootstrap_servers`` (the nodes known to run: a paused one accepts
    connections and never answers); with it, a connection not set up within ``timeout_s``
    too is given up (kafka-python's default: 10 s, then the client tries another node)."""
    admin = KafkaAdminClient(
        bootstrap_servers=list(bootstrap or settings.bootstrap_servers.split(",")),
        client_id=f"supportes-{component.value}-admin",
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),
        **security_config(settings, component),
    )
    # KafkaAdminClient takes no connection setup timeout: set its connection manager's.
    network = getattr(getattr(admin, "_manager", None), "config", None)
    if bootstrap and isinstance(network, dict):
        limit = int(timeout_s * 1000)
        network["socket_connection_setup_timeout_ms"] = limit
        network["socket_connection_setup_timeout_max_ms"] = limit
    try:
        yield admin
    finally:
        admin.close()


def require_broker(settings: Settings, component: Component = Component.ADMIN) -> None:
    """Fail with a one-line ConfigError naming the setting when no broker answers in time, or
    when it refuses ``component``'s credentials."""
    deadline = time.monotonic() + settings.connect_timeout_s
    while (problem := probe(settings, component)) is not None:
        if problem.startswith("authentication"):
            credentials = credentials_for(settings, component)
            user = credentials.username if credentials else "(none)"
            raise ConfigError(
                f"Kafka at {settings.bootstrap_servers} refused the credentials of "
                f"{component.value} (user {user}): {problem}"
            )
        if time.monotonic() >= deadline:
            setting = "SUPPORTES_KAFKA_BOOTSTRAP" if settings.kafka_bootstrap else "local broker"
            # A broker refusing SASL credentials just disconnects: kafka-python cannot tell
            # that from an unreachable one.
            credentials = (
                credentials_for(settings, component)
                if security_protocol(settings).startswith("SASL_")
                else None
            )
            refused = (
                f", or it refused the credentials of {component.value} "
                f"(user {credentials.username})"
                if credentials
                else ""
            )
            raise ConfigError(
                f"cannot reach Kafka at {settings.bootstrap_servers} ({setting}) within "
                f"{settings.connect_timeout_s:g}s{refused}"
            )
        time.sleep(0.5)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics of :func:`topic_specs` and their ACLs; return the names of
    the topics created (see :func:`ensure_topics_and_acls`)."""
    return ensure_topics_and_acls(settings)[0]


def ensure_topics_and_acls(settings: Settings) -> tuple[list[str], int]:
    """Create the missing topics of :func:`topic_specs` and the missing ACLs of their prefix
    (:func:`~supportes.stack.kafka_acls.ensure_acls`); return the topics and ACL count created.

    Existing topics must have ``SUPPORTES_PARTITIONS`` partitions: the partition count is fixed
    at creation (routing is ``murmur2(key) % P``), so a mismatch is an error, not a silent resize.
    """
    specs = topic_specs(settings)
    try:
        with admin_client(settings, settings.connect_timeout_s) as admin:
            existing = set(admin.list_topics())
            missing = [
                NewTopic(
                    name=spec.name,
                    num_partitions=settings.partitions,
                    replication_factor=settings.replication_factor,
                    topic_configs=spec.configs,
                )
                for spec in specs
                if spec.name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(missing, timeout_ms=30_000, wait_for_metadata=True)
            _check_partition_counts(admin, [s.name for s in specs], settings.partitions)
            acls = ensure_acls(settings, admin)
    except KafkaTimeoutError:
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} (SUPPORTES_KAFKA_BOOTSTRAP)"
        ) from None
    return [t.name for t in missing], acls


def _check_partition_counts(
    admin: KafkaAdminClient, names: list[str], wanted: int, timeout_s: float = 15.0
) -> None:
    """Every topic has ``wanted`` partitions (ConfigError if not). A topic just created may
    show none for a moment on a cluster (its metadata not yet on the broker asked): asked
    again until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    descriptions = admin.describe_topics(names)
    while any(not d.get("partitions") for d in descriptions) and time.monotonic() < deadline:
        time.sleep(0.3)
        descriptions = admin.describe_topics(names)
    for description in descriptions:
        count = len(description.get("partitions", []))
        if count != wanted:
            raise ConfigError(
                f"topic {description['name']} has {count} partitions but SUPPORTES_PARTITIONS is "
                f"{wanted}; the count is fixed at creation (see README: changing partitions)"
            )


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The non-default configs of ``topic`` as the broker reports them."""
    with admin_client(settings, settings.connect_timeout_s) as admin:
        response = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = response.get("topic", {}).get(topic, {})
    return {name: entry["value"] for name, entry in entries.items()}


def security_summary(
    settings: Settings, bootstrap: Sequence[str] | None = None, timeout_s: float | None = None
) -> str:
    """How clients authenticate and whether this prefix's ACLs are all in place, in words:
    ``SASL_PLAINTEXT SCRAM-SHA-512, ACLs 19/19 for prefix supportes``."""
    protocol = security_protocol(settings)
    words = f"{protocol} {settings.kafka_sasl_mechanism}" if "SASL" in protocol else protocol
    wanted = acl_bindings(settings)
    if not wanted:
        return words
    try:
        timeout_s = timeout_s or settings.connect_timeout_s
        with admin_client(settings, timeout_s, bootstrap=bootstrap) as admin:
            existing = _retried(lambda: existing_acls(admin))
        present = sum(acl in existing for acl in wanted)
    except SecurityDisabledError:
        return f"{words}, no authorizer"
    except KafkaError as exc:
        return f"{words}, ACLs unknown ({type(exc).__name__})"
    return f"{words}, ACLs {present}/{len(wanted)} for prefix {settings.topic_prefix}"


INTERNAL_TOPICS = ("__transaction_state", "__consumer_offsets")


def registered_brokers(
    settings: Settings, timeout_s: float = 2.0, *, bootstrap: Sequence[str] | None = None
) -> list[int]:
    """Ids of the brokers the cluster lists as registered (fenced ones are left out); empty
    when nothing answers. ``bootstrap``: ask these nodes (:func:`admin_client`)."""
    try:
        with admin_client(settings, timeout_s, bootstrap=bootstrap) as admin:
            cluster = admin.describe_cluster()
    except (KafkaError, OSError, ValueError):
        return []
    return _unfenced(cluster)


def _unfenced(cluster: dict[str, Any]) -> list[int]:
    brokers = cluster.get("brokers", [])
    return sorted(int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False))


def _retried(call: Callable[[], T], attempts: int = 4) -> T:
    """``call`` again when the node it went to is gone: until the cluster fences a dead node
    (seconds), the client may still pick it, and the next attempt goes to another one."""
    for attempt in range(attempts):
        try:
            return call()
        except (KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, KafkaTimeoutError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class UnderReplicated:
    """A partition with fewer replicas in sync than assigned."""

    topic: str
    partition: int
    replicas: list[int]
    isr: list[int]

    def __str__(self) -> str:
        isr = ",".join(map(str, self.isr))
        return f"{self.topic}-{self.partition} (isr {isr} of {','.join(map(str, self.replicas))})"


@dataclass(frozen=True)
class ReplicationReport:
    """Who leads and what is under-replicated among the project's topics and the internal
    transaction and offsets topics."""

    brokers: list[int]
    leaders: dict[int, int]  # node id -> partitions it leads
    under_replicated: list[UnderReplicated]


def replication_report(
    settings: Settings, timeout_s: float = 5.0, bootstrap: Sequence[str] | None = None
) -> ReplicationReport:
    """The cluster's view of its partitions, asked through ``bootstrap`` (default: every
    server); raises KafkaError when nothing answers."""
    wanted = [s.name for s in topic_specs(settings)] + list(INTERNAL_TOPICS)
    with admin_client(settings, timeout_s, bootstrap=bootstrap) as admin:
        brokers = _unfenced(_retried(admin.describe_cluster))
        present = set(_retried(admin.list_topics))
        topics = _retried(lambda: admin.describe_topics([t for t in wanted if t in present]))
    leaders: dict[int, int] = dict.fromkeys(brokers, 0)
    lagging: list[UnderReplicated] = []
    for topic in topics:
        for part in topic.get("partitions", []):
            leader = int(part.get("leader_id", -1))
            if leader >= 0:
                leaders[leader] = leaders.get(leader, 0) + 1
            replicas = sorted(int(r) for r in part.get("replica_nodes", []))
            isr = sorted(int(r) for r in part.get("isr_nodes", []))
            if len(isr) < len(replicas):
                lagging.append(
                    UnderReplicated(topic["name"], int(part["partition_index"]), replicas, isr)
                )
    lagging.sort(key=lambda u: (u.topic, u.partition))
    return ReplicationReport(brokers, leaders, lagging)
