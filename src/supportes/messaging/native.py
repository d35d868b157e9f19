"""librdkafka clients (confluent-kafka) for the API's hot path, configured as the kafka-python
ones of :mod:`supportes.messaging.clients` are (same principal, protocol and mechanism).

Why a second client library: the API process runs its event loop and its Kafka clients under
one GIL. kafka-python's producer, sender, network and fetcher work is Python (~0.77 ms of CPU
per command at 500 commands/s, holding the GIL ~40 % of the time beside the loop), and every
moment it holds the GIL is a moment no request moves. librdkafka does that work in native
threads that never take the GIL; Python runs only to hand a record over and to read a result.
The writer and the projector keep kafka-python (their transactions and group handling are
built and tested on it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from supportes.logs import get_logger
from supportes.messaging.clients import CLIENT_LINGER_MS, missing_topic
from supportes.messaging.security import Component, sasl_credentials, security_protocol
from supportes.settings import Settings

log = get_logger("messaging.native")


class _StructlogBridge(logging.Logger):
    """The ``logger`` librdkafka's log lines go through: JSON lines like every other, warnings
    and worse only (librdkafka logs retries and reconnects at notice and info)."""

    def __init__(self, client_id: str) -> None:
        super().__init__(f"rdkafka.{client_id}")
        self._structlog = log.bind(client_id=client_id)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        text = str(msg) % args if args else str(msg)
        self._structlog.warning("librdkafka", level=level, text=text)  # not a personal field name


def native_config(settings: Settings, component: Component, client_id: str) -> dict[str, Any]:
    """Bootstrap servers and the security settings authenticating as ``component``, in
    librdkafka's names (the same resolution as :func:`security.security_config`)."""
    protocol = security_protocol(settings)
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": protocol,
        "client.id": client_id,
        "socket.nagle.disable": True,
        "log_level": 4,  # warnings and worse
        "logger": _StructlogBridge(client_id),
        "error_cb": _error_logger(client_id),
    }
    credentials = sasl_credentials(settings, component)
    if credentials is not None:
        config.update(
            {
                "sasl.mechanism": settings.kafka_sasl_mechanism,
                "sasl.username": credentials.username,
                "sasl.password": credentials.password,
            }
        )
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    return config


def _error_logger(client_id: str) -> Any:
    bound = log.bind(client_id=client_id)

    def on_error(error: KafkaError) -> None:
        bound.warning("kafka client error", error=error.name(), fatal=error.fatal())

    return on_error


def native_producer(
    settings: Settings, component: Component, *, client_id: str, delivery_timeout_ms: int
) -> Producer:
    """An idempotent producer (acks=all) submitting commands; delivery reports only for
    failures (serve them with ``poll``)."""
    return Producer(
        {
            **native_config(settings, component, client_id),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": CLIENT_LINGER_MS,
            "message.timeout.ms": delivery_timeout_ms,
            "delivery.report.only.error": True,
        }
    )


def native_reader(
    settings: Settings, component: Component, *, client_id: str, group_id: str, **extra: Any
) -> Consumer:
    """A read_committed consumer for manual assignment. librdkafka requires a ``group.id``, and
    looks up its coordinator (every second until found: the principal needs DESCRIBE on it,
    which the component's READ on its group prefix includes); no group is joined (``assign``
    only) and nothing is ever committed under it."""
    return Consumer(
        {
            **native_config(settings, component, client_id),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "latest",
            **extra,
        }
    )


def native_partitions(client: Any, topic: str, timeout_s: float) -> list[int]:
    """The partitions of ``topic`` once the cluster's metadata has them; ConfigError naming the
    topic when it has none within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = client.list_topics(topic, timeout=max(0.1, deadline - time.monotonic()))
            described = metadata.topics.get(topic)
            if described is not None and described.error is None and described.partitions:
                return sorted(described.partitions)
        except KafkaException:
            pass
        if time.monotonic() >= deadline:
            raise missing_topic(topic, timeout_s)
        time.sleep(0.2)
