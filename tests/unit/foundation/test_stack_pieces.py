"""Pure pieces of the stack: broker config, topic specs, migrations on disk, DSN redaction."""

from __future__ import annotations

from pathlib import Path

from supportes.db.connect import redact_dsn
from supportes.db.migrate import available_migrations
from supportes.settings import Settings
from supportes.stack.kafka_admin import topic_specs
from supportes.stack.kafka_local import _new_cluster_id, server_properties
from supportes.stack.layout import KafkaPaths
from supportes.stack.postgres_local import searchable_by_others


def _props(settings: Settings) -> dict[str, str]:
    text = server_properties(settings, KafkaPaths(Path("/state/kafka")), "pw")
    return dict(line.split("=", 1) for line in text.splitlines())


def test_broker_listens_on_loopback_only_in_kraft_mode() -> None:
    props = _props(Settings(kafka_port=1234, kafka_controller_port=1235))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:1235"
    assert props["log.dirs"] == "/state/kafka/data"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for internal in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert props[f"{internal}.replication.factor"] == "1"


def test_topics_follow_the_design() -> None:
    specs = {s.name: s.configs for s in topic_specs(Settings(topic_prefix="acme"))}
    assert set(specs) == {"acme.commands", "acme.events", "acme.results", "acme.dead-letters"}
    assert specs["acme.events"]["retention.ms"] == "-1"
    assert specs["acme.events"]["cleanup.policy"] == "delete"
    assert specs["acme.events"]["min.insync.replicas"] == "1"
    assert topic_specs(Settings(replication_factor=3))[1].configs["min.insync.replicas"] == "2"
    assert specs["acme.dead-letters"]["retention.ms"] == str(30 * 24 * 3600 * 1000)


def test_migrations_are_numbered_and_ordered() -> None:
    migrations = available_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
    assert all(m.sql.strip() for m in migrations)


def test_cluster_ids_are_kafka_shaped() -> None:
    ids = {_new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_passwords_are_redacted() -> None:
    assert redact_dsn("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_dsn("host=h password=secret user=u") == "host=h password=*** user=u"
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


def test_ancestors_of_the_data_dir_become_searchable_by_the_server_user(tmp_path: Path) -> None:
    private = tmp_path / "clone"  # like a `mktemp -d` checkout: mode 700
    data = private / ".local" / "pg"
    data.mkdir(parents=True)
    private.chmod(0o700)
    changed = searchable_by_others(data)
    assert private in changed
    assert private.stat().st_mode & 0o777 == 0o701  # enter, not list
    assert searchable_by_others(data) == []
