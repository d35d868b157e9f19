"""Kafka security without a broker: node configs, ACL rules, credentials and secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from supportes.errors import ConfigError
from supportes.messaging.security import (
    Component,
    credentials_for,
    password_secret,
    security_config,
    write_credentials_file,
)
from supportes.settings import Settings
from supportes.stack.kafka_acls import DEFAULT_WRITER_GROUP, acl_rules
from supportes.stack.kafka_local import NodeSpec, node_properties, scram_arguments
from supportes.stack.secrets import read_or_create_secret, secret_path


def test_a_node_is_secured_with_scram_plain_on_the_controller_and_the_authorizer() -> None:
    node = NodeSpec(1, 1234, 1235)
    props = node_properties(Settings(), node, [node], Path("/d"), "pw")
    assert props["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert 'user_admin="pw"' in props["listener.name.controller.plain.sasl.jaas.config"]
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["super.users"] == "User:admin"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    unsecured = node_properties(Settings(), node, [node], Path("/d"), None)
    assert unsecured["listeners"].startswith("PLAINTEXT://")
    assert "authorizer.class.name" not in unsecured


def test_a_node_of_three_knows_the_whole_quorum() -> None:
    quorum = [NodeSpec(i, 9000 + i, 9100 + i) for i in (1, 2, 3)]
    props = node_properties(Settings(), quorum[1], quorum, Path("/d"), "pw")
    assert props["node.id"] == "2"
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:9002,CONTROLLER://127.0.0.1:9102"
    assert props["controller.quorum.bootstrap.servers"] == (
        "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103"
    )
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"


def test_scram_users_are_added_at_format() -> None:
    assert scram_arguments({"admin": "a", "supportes-api": "b"}) == [
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=a]",
        "--add-scram",
        "SCRAM-SHA-512=[name=supportes-api,password=b]",
    ]


def test_only_the_writer_writes_events_and_reads_commands() -> None:
    rules = acl_rules(Settings(topic_prefix="acme"))
    writes = {(c, name) for c, _, name, _, op in rules if op.name == "WRITE"}
    reads = {(c, name) for c, _, name, _, op in rules if op.name == "READ"}
    assert {c for c, name in writes if name == "acme.events"} == {Component.WRITER}
    assert {c for c, name in reads if name == "acme.commands"} == {Component.WRITER}
    assert {c for c, name in writes if name == "acme.commands"} == {
        Component.WRITER,
        Component.API,
    }
    assert (Component.AUDITOR, "acme.events") in reads
    assert not {c for c, name in writes if c is Component.AUDITOR}
    groups = {(c, name) for c, kind, name, _, _ in rules if kind.name == "GROUP"}
    assert groups == {
        (Component.WRITER, "acme-writer"),
        (Component.WRITER, DEFAULT_WRITER_GROUP),
        (Component.PROJECTOR, "acme-projector"),
        (Component.API, "acme-api"),
    }
    assert all(c is not Component.ADMIN for c, *_ in rules)


def test_local_credentials_come_from_the_secrets_dir(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ConfigError, match="stack up"):
        credentials_for(settings, Component.WRITER)
    password = read_or_create_secret(settings, password_secret(Component.WRITER))
    assert read_or_create_secret(settings, password_secret(Component.WRITER)) == password
    path = secret_path(settings, password_secret(Component.WRITER))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    config = security_config(settings, Component.WRITER)
    assert config["security_protocol"] == "SASL_PLAINTEXT"
    assert config["sasl_plain_username"] == "supportes-writer"
    assert config["sasl_plain_password"] == password
    assert password not in repr(credentials_for(settings, Component.WRITER))


def test_an_external_cluster_takes_one_identity_or_a_file(tmp_path: Path) -> None:
    external = Settings(kafka_bootstrap="k:9092", home=tmp_path)
    assert security_config(external, Component.API) == {"security_protocol": "PLAINTEXT"}
    one = Settings(kafka_bootstrap="k:9092", kafka_username="svc", kafka_password="s3")
    assert security_config(one, Component.AUDITOR)["sasl_plain_username"] == "svc"
    local = Settings(home=tmp_path)
    for component in Component:
        read_or_create_secret(local, password_secret(component))
    file = write_credentials_file(local, tmp_path / "creds.json")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert set(json.loads(file.read_text())) == {c.value for c in Component}
    by_file = external.model_copy(update={"kafka_credentials_file": file})
    assert credentials_for(by_file, Component.PROJECTOR).username == "supportes-projector"  # type: ignore[union-attr]
    file.write_text(json.dumps({"api": {"username": "a", "password": "b"}}))
    with pytest.raises(ConfigError, match="no entry for component 'writer'"):
        security_config(by_file, Component.WRITER)
