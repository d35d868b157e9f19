"""The librdkafka clients' settings match the kafka-python ones (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportes.errors import ConfigError
from supportes.messaging.native import native_config
from supportes.messaging.security import Component, security_config
from supportes.settings import Settings


def test_the_same_identity_in_librdkafka_names() -> None:

    settings = Settings(
        kafka_bootstrap="k1:9092,k2:9092",
        kafka_username="svc",
        kafka_password="s3cret",
        kafka_sasl_mechanism="SCRAM-SHA-256",
    )
    native = native_config(settings, Component.API, "supportes-api")
    python = security_config(settings, Component.API)
    assert native["bootstrap.servers"] == "k1:9092,k2:9092"
    assert native["security.protocol"] == python["security_protocol"] == "SASL_PLAINTEXT"
    assert native["sasl.mechanism"] == python["sasl_mechanism"] == "SCRAM-SHA-256"
    assert native["sasl.username"] == "svc"
    assert native["sasl.password"] == "s3cret"
    assert native["client.id"] == "supportes-api"


def test_tls_takes_the_configured_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = Settings(
        kafka_bootstrap="k:9093",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=ca,
    )
    native = native_config(settings, Component.API, "c")
    assert native["security.protocol"] == "SSL"
    assert native["ssl.ca.location"] == str(ca)
    assert "sasl.username" not in native


def test_sasl_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="k:9092", kafka_security_protocol="SASL_SSL", home=tmp_path)
    with pytest.raises(ConfigError, match="no credentials are set"):
        native_config(settings, Component.API, "c")


def test_librdkafka_lines_go_through_structlog_without_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(kafka_bootstrap="k:9092", kafka_username="svc", kafka_password="hunter22")
    bridge = native_config(settings, Component.API, "c")["logger"]
    bridge.log(4, "%s [%s] %s", "FAIL", "c#producer-1", "connection refused")
    err = capsys.readouterr()
    out = err.out + err.err
    assert "connection refused" in out
    assert "c#producer-1" in out
    assert "client_id" in out  # a structlog line, bound to the client
    assert "hunter22" not in out
