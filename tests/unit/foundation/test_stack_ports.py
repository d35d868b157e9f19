"""The local stack's ports and start-up checks: defaults below the ephemeral ports, the
listening check a readiness poll asks first, and the cause of a node that exits at start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from supportes.settings import Settings
from supportes.stack import kafka_local, processes
from supportes.stack.kafka_cluster import cluster_nodes
from supportes.stack.layout import kafka_paths

KERNEL_DEFAULT_EPHEMERAL_START = 32_768


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SUPPORTES_"):
            monkeypatch.delenv(name)


def test_the_default_ports_lie_below_the_ephemeral_ones() -> None:
    single = Settings()
    cluster = Settings(kafka_brokers=3)
    ports = [single.kafka_port, single.kafka_controller_port, single.pg_port]
    ports += [port for node in cluster_nodes(cluster) for port in (node.port, node.controller_port)]
    ephemeral = processes.ephemeral_ports()
    low = min(ephemeral.start, KERNEL_DEFAULT_EPHEMERAL_START)
    assert all(port < low for port in ports), ports


def _listener(family: int, host: str) -> socket.socket:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(1)
    return server


def test_listening_sees_an_ipv4_listener_and_not_a_closed_one() -> None:
    server = _listener(socket.AF_INET, "127.0.0.1")
    port = server.getsockname()[1]
    assert processes.listening("127.0.0.1", port)
    server.close()
    assert not processes.listening("127.0.0.1", port)


def test_listening_sees_a_bound_but_not_listening_socket_as_not_listening() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        assert not processes.listening("127.0.0.1", bound.getsockname()[1])


def test_listening_sees_a_java_style_ipv4_mapped_listener() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 sockets here")
    try:
        server = _listener(socket.AF_INET6, "::ffff:127.0.0.1")
    except OSError:
        pytest.skip("IPv6 disabled here")
    with server:
        assert processes.listening("127.0.0.1", server.getsockname()[1])


def test_the_proc_net_form_of_an_address() -> None:
    addresses = processes._proc_net_addresses("127.0.0.1", 29092)
    assert "0100007F:71A4" in addresses
    assert "0000000000000000FFFF00000100007F:71A4" in addresses


SERVER_LOG = "\n".join(
    [
        "[2026-12-05 06:22:31,001] INFO [ControllerServer id=1] Starting controller",
        "[2026-12-05 06:22:31,900] ERROR [BrokerServer id=1] Fatal error during broker startup.",
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to "
        "127.0.0.1:39092: Address already in use.",
        "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:700)",
        "[2026-12-05 06:22:32,070] INFO [data-plane Kafka Request Handler] shut down completely",
    ]
)


def test_a_node_that_exits_at_start_is_reported_with_its_exit_code_and_first_error(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path)
    paths = kafka_paths(settings)
    paths.logs.mkdir(parents=True)
    (paths.logs / "server.log").write_text(SERVER_LOG)
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()
    reason = kafka_local.abandon_start(settings, exited, paths)
    assert reason.startswith("local Kafka exited with code 3 while starting")
    assert "Fatal error during broker startup" in reason
    assert "failed to bind to 127.0.0.1:39092: Address already in use" in reason
    assert "shut down completely" not in reason


def test_without_an_error_line_the_last_line_is_the_reason(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, startup_timeout_s=7)
    paths = kafka_paths(settings)
    paths.logs.mkdir(parents=True)
    (paths.logs / "server.log").write_text("[x] INFO starting\n[y] INFO still starting\n")
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reason = kafka_local.abandon_start(settings, running, paths)
    assert running.poll() is not None  # stopped
    assert reason.endswith("[y] INFO still starting")
    assert reason.startswith("local Kafka did not start within 7s")


def test_an_error_of_an_earlier_run_is_not_this_starts_cause(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    paths = kafka_paths(settings)
    paths.logs.mkdir(parents=True)
    earlier = "[2026-12-01 10:00:00,000] ERROR an earlier run's trouble\n"
    (paths.logs / "server.log").write_text(earlier)
    kafka_local._LOGS_AT_START[str(paths.root)] = {"server.log": len(earlier), "stdout.log": 0}
    with (paths.logs / "server.log").open("a") as log:
        log.write(SERVER_LOG)
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    exited.wait()
    reason = kafka_local.abandon_start(settings, exited, paths)
    assert "Fatal error during broker startup" in reason
    assert "earlier run" not in reason
    assert kafka_local.first_error(paths.logs / "server.log").endswith("an earlier run's trouble")
