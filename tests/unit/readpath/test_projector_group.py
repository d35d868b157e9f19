"""The projector's consumer group follows the topic prefix."""

from __future__ import annotations

from supportes.consumers.projector import group_for
from supportes.settings import Settings


def test_default_prefix_keeps_the_documented_group() -> None:
    assert group_for(Settings(topic_prefix="supportes")) == "supportes-projector"


def test_other_prefixes_get_their_own_group() -> None:
    assert group_for(Settings(topic_prefix="test-abc")) == "test-abc-projector"
