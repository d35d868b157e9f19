"""What the metric recorders put in the registry (no services): bounded labels, per-cycle
counting, the audit textfile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from supportes.api.request_metrics import auth_failed, forbidden
from supportes.consumers.batch import BatchStats, PendingBatch
from supportes.observability import metrics
from supportes.observability.audit_textfile import write_audit_metrics
from supportes.observability.server import split_listen
from supportes.observability.writer_metrics import WriterMetrics
from supportes.ops.audit_verify import AuditReport


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _batch(outcomes: dict[tuple[str, str, str], int], submitted_ms: list[int]) -> PendingBatch:
    batch = PendingBatch(partition=0, first_offset=0)
    for (kind, outcome, code), count in outcomes.items():
        for _ in range(count):
            batch.stats.count(kind, outcome, code)
    batch.stats.commands = sum(outcomes.values())
    batch.stats.submitted_ms = submitted_ms
    return batch


def test_a_committed_cycle_adds_its_outcomes_once() -> None:
    accepted = _value("supportes_commands_total", type="Resolve", outcome="accepted", code="")
    conflicts = _value(
        "supportes_commands_total", type="Resolve", outcome="rejected", code="version_conflict"
    )
    cycles = _value("supportes_writer_cycle_duration_seconds_count")
    latencies = _value("supportes_writer_submit_to_commit_seconds_count")
    now_ms = int(time.time() * 1000)
    batches = [
        _batch({("Resolve", "accepted", ""): 3}, [now_ms - 20] * 3),
        _batch({("Resolve", "rejected", "version_conflict"): 2}, [now_ms - 5] * 2),
    ]
    WriterMetrics().cycle(time.monotonic() - 0.01, batches)
    assert _value("supportes_commands_total", type="Resolve", outcome="accepted", code="") == (
        accepted + 3
    )
    assert (
        _value(
            "supportes_commands_total", type="Resolve", outcome="rejected", code="version_conflict"
        )
        == conflicts + 2
    )
    assert _value("supportes_writer_cycle_duration_seconds_count") == cycles + 1  # one cycle
    assert _value("supportes_writer_submit_to_commit_seconds_count") == latencies + 5


def test_off_records_nothing() -> None:
    before = _value("supportes_writer_cycle_duration_seconds_count")
    off = WriterMetrics(enabled=False)
    off.cycle(time.monotonic(), [_batch({("Close", "accepted", ""): 1}, [0])])
    off.transaction("committed")
    assert _value("supportes_writer_cycle_duration_seconds_count") == before
    assert _value("supportes_commands_total", type="Close", outcome="accepted", code="") == 0


def test_batch_stats_count_by_key() -> None:
    stats = BatchStats()
    stats.count("OpenCase", "accepted")
    stats.count("OpenCase", "accepted")
    stats.count("unknown", "dead_lettered", "invalid")
    assert stats.outcomes == {
        ("OpenCase", "accepted", ""): 2,
        ("unknown", "dead_lettered", "invalid"): 1,
    }


def test_auth_failure_reasons_are_a_bounded_set() -> None:
    other = _value("supportes_api_auth_failures_total", reason="other")
    expired = _value("supportes_api_auth_failures_total", reason="expired")
    denied = _value("supportes_api_auth_failures_total", reason="forbidden")
    auth_failed("expired")
    auth_failed("a reason nobody planned <script>")
    forbidden()
    assert _value("supportes_api_auth_failures_total", reason="expired") == expired + 1
    assert _value("supportes_api_auth_failures_total", reason="other") == other + 1
    assert _value("supportes_api_auth_failures_total", reason="forbidden") == denied + 1
    reasons = {
        s.labels["reason"] for family in metrics.API_AUTH_FAILURES.collect() for s in family.samples
    }
    assert "a reason nobody planned <script>" not in reasons


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:80", ("::1", 80)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_split_listen(listen: str, parsed: tuple[str, int]) -> None:
    assert split_listen(listen) == parsed


def test_the_audit_textfile(tmp_path: Path) -> None:
    report = AuditReport(
        case_id=None,
        topic="supportes.events",
        partitions=[0],
        aggregates={},
        events=1234,
        index_rows=1234,
        unindexed=0,
        checks={},
        failures=[],
        failures_total=2,
        seconds=1.5,
    )
    target = tmp_path / "textfile" / "supportes_audit.prom"
    write_audit_metrics(target, report, now=1_700_000_000.0)
    samples = {
        line.split()[0]: float(line.split()[1])
        for line in target.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert samples == {
        "supportes_audit_verify_success": 0.0,
        "supportes_audit_verify_last_run_timestamp_seconds": 1_700_000_000.0,
        "supportes_audit_verify_differences": 2.0,
        "supportes_audit_verify_events_checked": 1234.0,
        "supportes_audit_verify_duration_seconds": 1.5,
    }
    assert list(tmp_path.rglob("*.tmp*")) == []  # written whole, then renamed


def test_every_metric_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("## Operating supportes", 1)[1].split("\n## ", 1)[0]
    for family in REGISTRY.collect():
        if family.name.startswith("supportes_"):
            suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
            assert f"`{family.name}{suffix}`" in section, family.name


def test_every_alert_has_its_runbook_entry_in_the_readme() -> None:
    import yaml  # type: ignore[import-untyped]

    root = Path(__file__).parents[3]
    headings = {
        "runbook-" + line.removeprefix("#### Runbook: ").strip().lower()
        for line in (root / "README.md").read_text().splitlines()
        if line.startswith("#### Runbook: ")
    }
    rules = yaml.safe_load((root / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert alerts
    for alert in alerts:
        anchor = alert["annotations"]["runbook"].rsplit("#", 1)[1]
        assert anchor in headings, alert["alert"]
