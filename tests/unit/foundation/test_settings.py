"""Settings: defaults, environment overrides, and errors that name the variable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supportes.errors import ConfigError
from supportes.settings import PgComponent, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SUPPORTES_"):
            monkeypatch.delenv(name)


def test_defaults_describe_the_local_stack() -> None:
    settings = load_settings()
    assert settings.partitions == 6
    assert settings.topic_prefix == "supportes"
    assert settings.kafka_is_local
    assert settings.pg_is_local
    assert settings.bootstrap_servers == "127.0.0.1:29092"
    assert settings.dsn.startswith("postgresql://supportes@127.0.0.1:25432/supportes?passfile=/")
    assert settings.dsn.endswith("/secrets/pgpass")
    assert settings.dsn_for(PgComponent.WRITER).startswith("postgresql://supportes_writer@")
    assert settings.topic("events") == "supportes.events"
    assert settings.sla_acknowledge_urgent == timedelta(minutes=15)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTES_KAFKA_BOOTSTRAP", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("SUPPORTES_PG_DSN", "postgresql://u:p@db/supportes")
    monkeypatch.setenv("SUPPORTES_PARTITIONS", "12")
    monkeypatch.setenv("SUPPORTES_TOPIC_PREFIX", "acme")
    monkeypatch.setenv("SUPPORTES_SLA_ACKNOWLEDGE", "PT30M")
    settings = load_settings()
    assert not settings.kafka_is_local
    assert not settings.pg_is_local
    assert settings.bootstrap_servers == "broker-a:9092,broker-b:9092"
    assert settings.partitions == 12
    assert settings.topic("commands") == "acme.commands"
    assert settings.sla_acknowledge == timedelta(minutes=30)


def test_component_dsns(monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_settings(pg_port=57432)
    for component in PgComponent:
        dsn = local.dsn_for(component)
        role = "supportes" if component is PgComponent.OWNER else f"supportes_{component}"
        assert dsn.startswith(f"postgresql://{role}@127.0.0.1:57432/supportes?passfile=/")
    monkeypatch.setenv("SUPPORTES_PG_DSN", "postgresql://owner:pw@db/supportes")
    monkeypatch.setenv("SUPPORTES_PG_ANALYTICS_DSN", "postgresql://bi:pw2@db/supportes")
    external = load_settings()
    assert external.dsn_for(PgComponent.WRITER) == "postgresql://owner:pw@db/supportes"
    assert external.dsn_for(PgComponent.OWNER) == "postgresql://owner:pw@db/supportes"
    assert external.dsn_for(PgComponent.ANALYTICS) == "postgresql://bi:pw2@db/supportes"


def test_blank_external_service_means_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTES_KAFKA_BOOTSTRAP", "  ")
    assert load_settings().kafka_is_local


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPPORTES_PARTITIONS", "0"),
        ("SUPPORTES_PARTITIONS", "six"),
        ("SUPPORTES_TOPIC_PREFIX", "bad prefix!"),
        ("SUPPORTES_KAFKA_PORT", "70000"),
        ("SUPPORTES_LOG_LEVEL", "loud"),
        ("SUPPORTES_KAFKA_VERSION", "3.9.0"),
        ("SUPPORTES_MAX_COMMAND_BYTES", "10"),
        ("SUPPORTES_MAX_COMMAND_BYTES", "lots"),
        ("SUPPORTES_API_DELIVERY_TIMEOUT_S", "30"),
        ("SUPPORTES_API_DELIVERY_TIMEOUT_S", "forever"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        load_settings()
