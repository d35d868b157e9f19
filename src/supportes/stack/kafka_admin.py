"""Talking to a broker as an administrator: reachability and topic creation (kafka-python)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from supportes.errors import ConfigError
from supportes.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the design (section 2) with its retention and configs."""

    name: str
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The four topics of supportes with the configs of design section 2."""
    min_isr = str(min(2, settings.replication_factor))
    return [
        TopicSpec(settings.topic("commands"), {"retention.ms": str(7 * DAY_MS)}),
        TopicSpec(
            settings.topic("events"),
            {"retention.ms": "-1", "cleanup.policy": "delete", "min.insync.replicas": min_isr},
        ),
        TopicSpec(settings.topic("results"), {"retention.ms": str(7 * DAY_MS)}),
        TopicSpec(settings.topic("dead-letters"), {"retention.ms": str(30 * DAY_MS)}),
    ]


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    try:
        with admin_client(bootstrap, timeout_s) as admin:
            admin.describe_cluster()
    except (KafkaError, OSError, ValueError):
        return False
    return True


@contextlib.contextmanager
def admin_client(bootstrap: str, timeout_s: float = 10.0) -> Iterator[KafkaAdminClient]:
    """A KafkaAdminClient, closed afterwards; raises KafkaTimeoutError when nothing answers."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        client_id="supportes-admin",
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),
    )
    try:
        yield admin
    finally:
        admin.close()


def require_broker(settings: Settings) -> None:
    """Fail with a one-line ConfigError naming the setting when no broker answers in time."""
    deadline = time.monotonic() + settings.connect_timeout_s
    while not broker_answers(settings.bootstrap_servers):
        if time.monotonic() >= deadline:
            setting = "SUPPORTES_KAFKA_BOOTSTRAP" if settings.kafka_bootstrap else "local broker"
            raise ConfigError(
                f"cannot reach Kafka at {settings.bootstrap_servers} ({setting}) within "
                f"{settings.connect_timeout_s:g}s"
            )
        time.sleep(0.5)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics of :func:`topic_specs`; return the names created.

    Existing topics must have ``SUPPORTES_PARTITIONS`` partitions: the partition count is fixed
    at creation (routing is ``murmur2(key) % P``), so a mismatch is an error, not a silent resize.
    """
    specs = topic_specs(settings)
    try:
        with admin_client(settings.bootstrap_servers, settings.connect_timeout_s) as admin:
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
    except KafkaTimeoutError:
        raise ConfigError(
            f"cannot reach Kafka at {settings.bootstrap_servers} (SUPPORTES_KAFKA_BOOTSTRAP)"
        ) from None
    return [t.name for t in missing]


def _check_partition_counts(admin: KafkaAdminClient, names: list[str], wanted: int) -> None:
    for description in admin.describe_topics(names):
        count = len(description.get("partitions", []))
        if count != wanted:
            raise ConfigError(
                f"topic {description['name']} has {count} partitions but SUPPORTES_PARTITIONS is "
                f"{wanted}; the count is fixed at creation (see README: changing partitions)"
            )


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The non-default configs of ``topic`` as the broker reports them."""
    with admin_client(settings.bootstrap_servers, settings.connect_timeout_s) as admin:
        response = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = response.get("topic", {}).get(topic, {})
    return {name: entry["value"] for name, entry in entries.items()}
