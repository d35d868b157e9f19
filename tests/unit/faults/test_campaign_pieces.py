"""The campaign's pure pieces: the schedule, the refusal of unknown faults, the table's rows."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from supportes.cli.campaign_cmd import add_arguments, config_of
from supportes.errors import UsageError
from supportes.faults.campaign import CampaignConfig, CampaignReport
from supportes.faults.deployment import Deployment, Ports, free_ports
from supportes.faults.model import CheckReport
from supportes.faults.nemesis import FAULTS, Injection, Nemesis, default_schedule
from supportes.faults.workload import Submitted, WorkloadReport
from supportes.settings import Settings
from supportes.stack import processes


def test_the_default_schedule_injects_every_fault_once_in_order() -> None:
    schedule = default_schedule(spacing_s=7.0, first_s=5.0)
    assert [name for _, name in schedule] == list(FAULTS)
    assert [at for at, _ in schedule] == [5.0 + 7.0 * n for n in range(len(FAULTS))]


def test_an_unknown_fault_is_refused_by_name(tmp_path: Path) -> None:
    deployment = Deployment.create(Settings(), tmp_path, Ports(41000, 41006, (41007,)))
    with pytest.raises(ValueError, match="unplug-the-rack"):
        Nemesis(deployment, [(1.0, "unplug-the-rack")])


def _sent(status: str | None, answered_at: float | None, via: str = "kafka") -> Submitted:
    return Submitted("id", "Acknowledge", "case", 0, via, 0.0, 1, answered_at, status)


def test_the_rows_say_when_the_next_command_was_accepted_after_each_fault() -> None:
    workload = WorkloadReport()
    for item in (
        _sent("accepted", 11.0),
        _sent("rejected", 12.0, "api"),
        _sent("accepted", 14.5, "api"),
        _sent(None, None),
    ):
        workload.add(item)
    report = CampaignReport(
        CampaignConfig.short(),
        [Injection("kill-writer", "writer-1", 12.0, healed=16.0), Injection("x", "y", 20.0)],
        workload,
        CheckReport(),
        30.0,
        started=2.0,
    )
    assert report.fault_rows() == [
        {"fault": "kill-writer", "target": "writer-1", "at_s": 10.0, "healed_after_s": 4.0,
         "next_accepted_after_s": 2.5},
        {"fault": "x", "target": "y", "at_s": 18.0, "healed_after_s": 0.0,
         "next_accepted_after_s": "none"},
    ]  # fmt: skip
    assert report.unanswered == 1
    assert not report.ok  # an unanswered command fails the campaign, anomalies or not
    assert {(r["via"], r["outcome"]): r["commands"] for r in report.command_rows()} == {
        ("api", "accepted"): 1,
        ("api", "rejected"): 1,
        ("kafka", "accepted"): 1,
        ("kafka", "unanswered"): 1,
    }
    anomalies = {r["class"]: r["count"] for r in report.anomaly_rows()}
    assert anomalies["unanswered"] == 1
    assert set(anomalies) - {"unanswered"} == set(CheckReport().findings)


def test_the_campaign_options_refuse_fewer_than_eight_clients() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_of(parser.parse_args(["--short"])) == CampaignConfig.short()
    assert config_of(parser.parse_args(["--commands", "30000"])).commands == 30_000
    with pytest.raises(UsageError, match="--clients"):
        config_of(parser.parse_args(["--clients", "4"]))


def test_the_deployments_ports_are_below_the_ephemeral_ones() -> None:
    """A port the kernel may give an outgoing connection can be taken between the check and the
    bind (a Kafka node of the campaign failed with "Address already in use")."""
    ephemeral = processes.ephemeral_ports()
    for seed in range(50):
        ports = free_ports(random.Random(seed))
        used = [*range(ports.kafka, ports.kafka + 6), ports.postgres, *ports.apis]
        assert all(port not in ephemeral for port in used), (ephemeral, used)


def test_without_room_below_the_ephemeral_ports_the_whole_span_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    low_range = tmp_path / "ip_local_port_range"
    low_range.write_text("1024\t65535\n")
    monkeypatch.setattr(processes, "EPHEMERAL_RANGE_FILE", str(low_range))
    assert processes.ephemeral_ports() == range(1024, 65536)
    assert processes.free_port_base(20_000, 49_000, 10) == range(20_000, 48_990)
    low_range.write_text("32768 60999")
    assert processes.free_port_base(20_000, 49_000, 10) == range(20_000, 32_758)
