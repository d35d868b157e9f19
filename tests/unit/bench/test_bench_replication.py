"""The replicated-log benchmark's figures (issue 17): ratios per round, the verdict, the refusal."""

from __future__ import annotations

import pytest

from supportes.bench.results import Result
from supportes.bench.writer_bench import WriterRun
from supportes.bench.writer_replication import _report, replicated_cluster
from supportes.settings import load_settings


def _runs(*rates: float) -> list[WriterRun]:
    return [WriterRun(rate=r, events_rate=2 * r, open_s=1.0, follow_ons=0, events=0) for r in rates]


def _reported(single: list[float], replicated: list[float]) -> Result:
    result = Result("writer-replication")
    _report(result, _runs(*single), _runs(*replicated), [8000.0] * 3, [6000.0, 4000.0, 6000.0])
    return result


def test_the_ratio_is_the_median_of_each_rounds_ratio() -> None:
    # rounds: 50 %, 75 %, 100 %; the ratio of the medians would be 3000/4000 = 75 % too, so the
    # second case below tells them apart
    result = _reported([4000, 4000, 4000], [2000, 3000, 4000])
    assert result.value("RF 3 / RF 1") == pytest.approx(75.0)
    assert result.value("commands (1 broker, RF 1)") == 4000
    assert result.value("commands (3 brokers, RF 3)") == 3000
    skewed = _reported([2000, 6000, 4000], [1900, 3000, 3800])  # 95 %, 50 %, 95 %
    assert skewed.value("RF 3 / RF 1") == pytest.approx(95.0)
    assert skewed.value("commands (3 brokers, RF 3)") / skewed.value(
        "commands (1 broker, RF 1)"
    ) == pytest.approx(75.0 / 100)


def test_the_verdict_follows_the_target() -> None:
    notes = {m.name: m.notes for m in _reported([4000] * 3, [2400, 2500, 2600]).metrics}
    assert notes["RF 3 / RF 1"].endswith("target >= 60% (issue 17): met")
    notes = {m.name: m.notes for m in _reported([4000] * 3, [2000, 2300, 2600]).metrics}
    assert notes["RF 3 / RF 1"].endswith("(issue 17): NOT met")


def test_bare_figures_say_what_kafka_itself_loses() -> None:
    result = _reported([4000] * 3, [3000] * 3)
    assert result.value("bare RF 3 / RF 1") == pytest.approx(75.0)  # 6000, 4000, 6000 of 8000
    assert result.value("writer / bare (RF 1)") == pytest.approx(50.0)
    assert result.value("writer / bare (RF 3)") == pytest.approx(50.0)  # 3000/6000 twice


def test_a_configured_cluster_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTES_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    cluster = replicated_cluster(load_settings())
    with pytest.raises(RuntimeError, match="SUPPORTES_KAFKA_BOOTSTRAP unset"):
        cluster.__enter__()
