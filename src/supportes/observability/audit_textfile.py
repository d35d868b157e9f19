"""``audit verify --metrics-file``: the verification's outcome as Prometheus metrics in a file.

A scheduled ``supportes audit verify`` (a cron job, a systemd timer, a Kubernetes CronJob) ends;
nothing is left running to scrape. So it writes node_exporter's textfile format (written to a
temporary file and renamed: a scrape never reads half a file), which the textfile collector
publishes and the alert rules read (``AuditVerifyFailed``, ``AuditVerifyStale``).
"""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from supportes.ops.audit_verify import AuditReport


def write_audit_metrics(path: Path, report: AuditReport, *, now: float | None = None) -> None:
    """Write the outcome of ``report`` to ``path`` (node_exporter textfile format)."""
    registry = CollectorRegistry()
    values = (
        (
            "supportes_audit_verify_success",
            "1 when the last audit verify found no failure.",
            1.0 if report.ok else 0.0,
        ),
        (
            "supportes_audit_verify_last_run_timestamp_seconds",
            "Unix time the last audit verify ended.",
            now if now is not None else time.time(),
        ),
        (
            "supportes_audit_verify_differences",
            "Failures the last audit verify found.",
            float(report.failures_total),
        ),
        (
            "supportes_audit_verify_events_checked",
            "Events the last audit verify read.",
            float(report.events),
        ),
        (
            "supportes_audit_verify_duration_seconds",
            "How long the last audit verify took.",
            report.seconds,
        ),
    )
    for name, documentation, value in values:
        Gauge(name, documentation, registry=registry).set(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
