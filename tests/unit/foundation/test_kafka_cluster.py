"""The local 3-node Kafka cluster without starting it: node configs, ports, quorum, durability,
settings, node names, process states and the one-kind-of-Kafka-per-home rule."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from supportes.errors import StackError, UsageError
from supportes.settings import Settings, load_settings
from supportes.stack import kafka_cluster, manager
from supportes.stack.kafka_admin import topic_specs
from supportes.stack.kafka_cluster import NodeState
from supportes.stack.kafka_local import security_properties
from supportes.stack.layout import kafka_node_paths, kafka_paths


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SUPPORTES_"):
            monkeypatch.delenv(name)


def _cluster(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, kafka_port=41000, kafka_controller_port=41001, kafka_brokers=3)


def _configs(settings: Settings) -> dict[int, dict[str, str]]:
    return {
        node.node_id: kafka_cluster.node_config(settings, node, "pw")
        for node in kafka_cluster.cluster_nodes(settings)
    }


def test_three_combined_nodes_on_their_own_ports_and_directories(tmp_path: Path) -> None:
    configs = _configs(_cluster(tmp_path))
    assert sorted(configs) == [1, 2, 3]
    for node_id, client, controller in ((1, 41000, 41001), (2, 41002, 41003), (3, 41004, 41005)):
        props = configs[node_id]
        assert props["node.id"] == str(node_id)
        assert props["process.roles"] == "broker,controller"
        assert props["listeners"] == (
            f"SASL_PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"
        )
        assert props["advertised.listeners"] == f"SASL_PLAINTEXT://127.0.0.1:{client}"
        assert props["log.dirs"] == str(tmp_path / "kafka-cluster" / f"node-{node_id}" / "data")
    assert len({props["log.dirs"] for props in configs.values()}) == 3


def test_default_ports_are_spaced_by_two() -> None:
    ports = [(n.port, n.controller_port) for n in kafka_cluster.cluster_nodes(Settings())]
    assert ports == [(29092, 29093), (29094, 29095), (29096, 29097)]


def test_every_node_knows_the_same_static_quorum(tmp_path: Path) -> None:
    configs = _configs(_cluster(tmp_path))
    voters = "1@127.0.0.1:41001,2@127.0.0.1:41003,3@127.0.0.1:41005"
    assert {props["controller.quorum.voters"] for props in configs.values()} == {voters}
    assert not any("controller.quorum.bootstrap.servers" in props for props in configs.values())


def test_the_cluster_is_durable_like_production(tmp_path: Path) -> None:
    for props in _configs(_cluster(tmp_path)).values():
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["unclean.leader.election.enable"] == "false"
        lag = int(props["replica.lag.time.max.ms"])
        assert 1000 <= lag < 30_000  # shorter than Kafka's default, longer than a GC pause


def test_nodes_are_secured_exactly_as_the_single_node(tmp_path: Path) -> None:
    single = security_properties("pw")
    for props in _configs(_cluster(tmp_path)).values():
        assert {key: props[key] for key in single} == single
        assert props["listener.security.protocol.map"] == (
            "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
        )


def test_broker_count_drives_replication_and_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    one = load_settings()
    assert (one.kafka_brokers, one.replication_factor) == (1, 1)
    assert one.bootstrap_servers == "127.0.0.1:29092"
    monkeypatch.setenv("SUPPORTES_KAFKA_BROKERS", "3")
    three = load_settings()
    assert three.replication_factor == 3
    assert three.bootstrap_servers == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    monkeypatch.setenv("SUPPORTES_REPLICATION_FACTOR", "2")
    assert load_settings().replication_factor == 2  # set explicitly: kept
    monkeypatch.setenv("SUPPORTES_KAFKA_BROKERS", "2")
    with pytest.raises(Exception, match="SUPPORTES_KAFKA_BROKERS"):
        load_settings()


def test_brokers_option_overrides_the_setting_for_one_call() -> None:
    three = Settings().with_kafka_brokers(3)
    assert (three.kafka_brokers, three.replication_factor) == (3, 3)
    assert three.bootstrap_servers.count(",") == 2
    assert three.with_kafka_brokers(1).replication_factor == 1  # still follows
    explicit = Settings(replication_factor=2).with_kafka_brokers(3)
    assert explicit.replication_factor == 2
    assert Settings(kafka_bootstrap="k:9092").with_kafka_brokers(3).bootstrap_servers == "k:9092"


def test_topics_need_two_in_sync_replicas_on_three_brokers() -> None:
    specs = topic_specs(Settings(kafka_brokers=3))
    assert {spec.configs["min.insync.replicas"] for spec in specs} == {"2"}
    single = {s.name: s.configs for s in topic_specs(Settings())}
    assert "min.insync.replicas" not in single["supportes.commands"]


@pytest.mark.parametrize(("text", "node_id"), [("kafka-1", 1), ("2", 2), (" kafka-3 ", 3)])
def test_nodes_are_named_kafka_n_or_n(text: str, node_id: int) -> None:
    assert kafka_cluster.parse_node(text) == node_id


@pytest.mark.parametrize("text", ["kafka-0", "kafka-4", "4", "node-1", "", "kafka-"])
def test_a_bad_node_is_a_usage_error_naming_the_argument(text: str) -> None:
    with pytest.raises(UsageError, match=r"^NODE .*kafka-1, kafka-2, kafka-3"):
        kafka_cluster.parse_node(text)


def test_process_states_come_from_proc() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert kafka_cluster.process_state(child.pid) is NodeState.UP
        os.kill(child.pid, signal.SIGSTOP)
        os.waitpid(child.pid, os.WUNTRACED)
        assert kafka_cluster.process_state(child.pid) is NodeState.PAUSED
        os.kill(child.pid, signal.SIGCONT)
        os.waitpid(child.pid, os.WCONTINUED)
        assert kafka_cluster.process_state(child.pid) is NodeState.UP
    finally:
        child.kill()
        child.wait()
    assert kafka_cluster.process_state(child.pid) is NodeState.DOWN


def test_a_home_runs_one_kind_of_local_kafka(tmp_path: Path) -> None:
    single, cluster = Settings(home=tmp_path), _cluster(tmp_path)
    manager.refuse_other_kafka(single)
    manager.refuse_other_kafka(cluster)
    kafka_paths(single).root.mkdir(parents=True)
    kafka_paths(single).pid_file.write_text(f"{os.getpid()}\n")  # a live pid: "running"
    with pytest.raises(StackError, match=r"single-node local Kafka .* SUPPORTES_KAFKA_BROKERS=1"):
        manager.refuse_other_kafka(cluster)
    manager.refuse_other_kafka(single)
    kafka_paths(single).pid_file.unlink()
    node = kafka_node_paths(cluster, 2)
    node.root.mkdir(parents=True)
    node.pid_file.write_text(f"{os.getpid()}\n")
    with pytest.raises(StackError, match=r"cluster \(kafka-2\) .* SUPPORTES_KAFKA_BROKERS=3"):
        manager.refuse_other_kafka(single)
    manager.refuse_other_kafka(cluster)


def test_a_node_beyond_the_last_port_is_refused_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=65533, kafka_controller_port=65520)
    with pytest.raises(StackError, match=r"65537 \(SUPPORTES_KAFKA_PORT\+4, kafka-3\) is beyond"):
        kafka_cluster.check_ports(settings)
    kafka_cluster.check_ports(Settings(kafka_port=65531, kafka_controller_port=65520))


def test_a_paused_node_is_shown_but_is_not_a_failure() -> None:
    paused = manager.ComponentStatus("kafka-2", False, "local", "a", "d", True, True)
    down = manager.ComponentStatus("kafka-3", False, "local", "a", "d")
    assert (paused.state, paused.failed) == ("paused", False)
    assert (down.state, down.failed) == ("DOWN", True)
    assert paused.as_dict()["state"] == "paused"
    assert "facts" not in down.as_dict()
