"""Topics are created with the design's partition count and configs, idempotently."""

from __future__ import annotations

import pytest

from supportes.errors import ConfigError
from supportes.stack.kafka_admin import admin_client, ensure_topics, topic_configs
from tests.conftest import Isolated


def test_topics_have_the_designed_configs(isolated: Isolated) -> None:
    settings = isolated.settings
    events = topic_configs(settings, settings.topic("events"))
    assert events["retention.ms"] == "-1"
    assert events["cleanup.policy"] == "delete"
    assert topic_configs(settings, settings.topic("commands"))["retention.ms"] == str(7 * 86400000)
    assert topic_configs(settings, settings.topic("results"))["retention.ms"] == str(7 * 86400000)
    dead = topic_configs(settings, settings.topic("dead-letters"))
    assert dead["retention.ms"] == str(30 * 86400000)
    with admin_client(settings) as admin:
        described = admin.describe_topics([settings.topic("events")])
    assert len(described[0]["partitions"]) == settings.partitions == 6


def test_ensuring_topics_again_creates_nothing(isolated: Isolated) -> None:
    assert ensure_topics(isolated.settings) == []


def test_a_different_partition_count_is_refused(isolated: Isolated) -> None:
    resized = isolated.settings.model_copy(update={"partitions": 3})
    with pytest.raises(ConfigError, match="SUPPORTES_PARTITIONS"):
        ensure_topics(resized)
