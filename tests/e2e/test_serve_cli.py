"""``supportes serve``: SIGTERM mid-traffic ends it cleanly; a new writer takes over at once."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from supportes.client import SupportesClient
from supportes.messaging.clients import Component, connection_config
from supportes.simulation import TrafficGenerator
from tests.conftest import Isolated
from tests.e2e.serving import start_serve
from tests.support.log import read_topic


def end_offsets(isolated: Isolated, isolation_level: str) -> dict[str, int]:
    """Sum of the end offsets of the events and results topics as ``isolation_level`` sees it."""
    consumer = KafkaConsumer(
        **connection_config(isolated.settings, Component.ADMIN), isolation_level=isolation_level
    )
    try:
        totals = {}
        for name in ("events", "results"):
            tps = [TopicPartition(isolated.topic(name), p) for p in range(6)]
            totals[name] = sum(consumer.end_offsets(tps).values())
        return totals
    finally:
        consumer.close()


def sigterm_while_pumping(
    isolated: Isolated, serve: subprocess.Popen[bytes], commands: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int, float]:
    """Submit the first 100 commands, keep sending the rest, SIGTERM serve meanwhile.

    Returns the first 100 results, serve's exit code and how long it took to stop.
    """
    pumping = threading.Event()
    pumping.set()

    def pump() -> None:
        with SupportesClient(isolated.settings) as sender:
            for i in range(100, len(commands), 100):
                if not pumping.is_set():
                    return
                sender.send(commands[i : i + 100])
                time.sleep(0.01)

    sender = threading.Thread(target=pump)
    try:
        with SupportesClient(isolated.settings) as client:
            answered = client.submit(commands[:100], timeout_s=60)
        sender.start()
        time.sleep(0.8)
        serve.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = serve.wait(timeout=30)
        return answered, code, time.monotonic() - began
    finally:
        pumping.clear()
        if serve.poll() is None:
            serve.kill()
        if sender.is_alive():
            sender.join(timeout=30)


def test_sigterm_mid_traffic_exits_0_and_leaves_no_open_transaction(
    isolated: Isolated, tmp_path: Path
) -> None:
    # More than the pump can send before the SIGTERM (100 per 10 ms, signal at 0.8 s), so serve
    # stops mid-traffic however fast the writer is.
    commands = list(TrafficGenerator(11, concurrent_cases=40).commands(10_000))
    serve = start_serve(isolated, tmp_path, "first")
    answered, code, stopped_s = sigterm_while_pumping(isolated, serve, commands)
    log = (tmp_path / "first.log").read_text()
    assert code == 0, log[-2000:]
    assert stopped_s < 15, stopped_s
    assert "writer stopped" in log
    assert "projector stopped" in log
    assert "Traceback" not in log
    # No transaction left open: the last stable offset is the high watermark everywhere.
    committed = end_offsets(isolated, "read_committed")
    assert committed == end_offsets(isolated, "read_uncommitted")
    submitted = {c["command_id"] for c in commands}
    answered_ids = {value["command_id"] for *_, value in read_topic(isolated.settings, "results")}
    processed = answered_ids & submitted  # not the follow-on commands' results
    assert 100 < len(processed) < len(commands)  # stopped mid-traffic

    began = time.monotonic()
    second = start_serve(isolated, tmp_path, "second")
    took_over_s = time.monotonic() - began  # no open transaction to wait out
    try:
        with SupportesClient(isolated.settings) as client:
            # Already answered commands get their first result again; the rest are processed now.
            results = client.submit(commands, timeout_s=120)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    assert took_over_s < 30, took_over_s
    assert [r["command_id"] for r in results] == [c["command_id"] for c in commands]
    assert results[:100] == answered
    # Exactly once across the restart: the log holds each accepted command's events, once.
    expected = {e["event_id"] for r in results for e in r["events"]}
    on_log = [value for _, _, _, value in read_topic(isolated.settings, "events")]
    ids = [value["event_id"] for value in on_log]
    assert len(set(ids)) == len(ids)
    assert expected <= set(ids)
    extra = {v["type"] for v in on_log if v["event_id"] not in expected}
    assert extra <= {"CaseAttached", "RootCauseReopened"}  # from follow-on commands
