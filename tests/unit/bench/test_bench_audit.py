"""The audit-verify part of the projection replay benchmark: medians, checks and ratios."""

from __future__ import annotations

from supportes.bench.audit_bench import AuditRun, audit_metrics
from supportes.bench.results import Result


def run(seconds: float, *, workers: int, ok: bool = True, events: int = 1000) -> AuditRun:
    return AuditRun(events, 1000, ok, 0 if ok else 2, seconds, seconds + 1, workers)


def test_medians_per_worker_count_and_ratios_to_the_bare_read() -> None:
    result = Result("projection-replay")
    runs = [run(0.1, workers=1), run(0.05, workers=2), run(0.2, workers=1), run(0.04, workers=2)]
    audit_metrics(result, 1000, runs, read_per_s=50_000)
    assert result.value("audit verify 1k") == 7500  # median of 10,000 and 5,000
    assert result.value("audit verify 1k / kafka read") == 15
    assert result.value("audit verify 1k, 2 workers") == 22_500
    assert result.value("audit verify 1k, 2 workers / kafka read") == 45
    notes = {m.name: m.notes for m in result.metrics}
    assert "check ok" in notes["audit verify 1k"]
    assert "10,000/5,000" in notes["audit verify 1k"]


def test_a_failed_or_short_audit_is_a_mismatch() -> None:
    result = Result("projection-replay")
    audit_metrics(result, 1000, [run(0.1, workers=1, ok=False)], read_per_s=50_000)
    audit_metrics(result, 2000, [run(0.1, workers=1)], read_per_s=50_000)
    notes = [m.notes for m in result.metrics if "/" not in m.name]
    assert "MISMATCH ok=False, failures 2" in notes[0]
    assert "MISMATCH ok=True, failures 0, events 1,000" in notes[1]
