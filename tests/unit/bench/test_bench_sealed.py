"""The benchmarks' encryption-on halves (issue 16): sealed domain events, checks, ratios."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from supportes.aggregates.personal import is_sealed
from supportes.bench.replay_child import Replay
from supportes.bench.replay_events import DomainEvents, Published, Sealing
from supportes.bench.results import Result
from supportes.bench.scratch import child_env
from supportes.bench.sealed_replay import SealedComparison, sealed_check, sealed_metrics
from supportes.bench.writer_bench import WriterRun, _Sealing
from supportes.bench.writer_bench import _sealed_metrics as writer_sealed_metrics
from supportes.privacy.sealing import event_personal_fields, open_event
from supportes.settings import load_settings


def _take(stream: DomainEvents, count: int) -> list[dict[str, Any]]:
    return list(itertools.islice(stream, count))


def test_sealed_domain_events_open_to_the_plain_ones() -> None:
    plain = _take(DomainEvents(seed=5), 2000)
    sealing = Sealing()
    sealed = _take(DomainEvents(seed=5, sealing=sealing), 2000)
    keys = {key.kid: key for key in sealing.keys.values()}
    assert sealing.sealed > 0
    assert sealing.unsealed == 0
    assert all(key.subject == subject for subject, key in sealing.keys.items())
    fields = 0
    for before, after in zip(plain, sealed, strict=True):
        assert (after["type"], after["aggregate_id"], after["version"]) == (
            before["type"],
            before["aggregate_id"],
            before["version"],
        )
        # every personal field is sealed but the domain's own texts (a reopening's reason)
        fields += sum(
            is_sealed(after["payload"].get(n)) for n in event_personal_fields(after["type"])
        )
        assert open_event(after, keys)["payload"] == before["payload"]
    assert fields > 1000


def test_sealing_forgets_closed_cases() -> None:
    sealing = Sealing()
    _take(DomainEvents(seed=5, sealing=sealing), 5000)
    assert len(sealing._subjects) <= 250  # the generator's ~200 active cases, not all of them


def _replay(*, masked: int = 0, digest: str = "d", parked: int = 0, rate: float = 10.0) -> Replay:
    return Replay(
        events=100,
        seconds=1.0,
        wall_s=2.0,
        peak_rss_kib=1024,
        samples=[],
        batches=1,
        batch_ms=[1.0],
        peak_at=0,
        parked=parked,
        timeline_rows=100,
        reported_rate=rate,
        cases=10,
        masked=masked,
        texts_digest=digest,
    )


def _comparison(plain: list[Replay], sealed: list[Replay]) -> SealedComparison:
    sealing = Sealing(sealed=50)
    return SealedComparison(100, plain, sealed, Published(100, 1000, 1, 1.0), 3, sealing)


def test_sealed_check_flags_masked_texts_and_differences() -> None:
    assert sealed_check(_comparison([_replay()], [_replay()])) == "ok"
    masked = sealed_check(_comparison([_replay()], [_replay(masked=10, digest="other")]))
    assert "10 of 10 cases masked" in masked
    assert "case texts differ" in masked
    assert "parked 2" in sealed_check(_comparison([_replay()], [_replay(parked=2)]))


def test_sealed_metrics_ratio_is_the_median_of_the_rounds() -> None:
    plain = [_replay(rate=r) for r in (100.0, 100.0, 100.0)]
    sealed = [_replay(rate=r) for r in (95.0, 80.0, 91.0)]
    result = Result("projection-replay")
    sealed_metrics(result, _comparison(plain, sealed))
    assert result.value("sealed / plain 100") == pytest.approx(91.0)
    verdict = next(m for m in result.metrics if m.name == "sealed / plain 100")
    assert verdict.notes.endswith("(issue 16): met")


def test_writer_sealed_ratio_and_checks() -> None:
    def run(rate: float) -> WriterRun:
        return WriterRun(rate=rate, events_rate=rate, open_s=0.1, follow_ons=5, events=105)

    sealing = _Sealing(envelopes=[{"a": 1}], seconds=0.5, keys=2, sealed=1, plaintext_left=0)
    result = Result("writer-throughput")
    writer_sealed_metrics(result, [run(100), run(100)], [run(80), run(85)], sealing)
    assert result.value("sealed / plain") == pytest.approx(82.5)
    assert result.value("commands (sealed)") == pytest.approx(82.5)
    notes = {m.name: m.notes for m in result.metrics}
    assert "check ok" in notes["commands (sealed)"]
    assert notes["sealed / plain"].endswith("NOT met")
    leaky = _Sealing(envelopes=[{"a": 1}], seconds=0.5, keys=2, sealed=1, plaintext_left=1)
    result = Result("writer-throughput")
    writer_sealed_metrics(result, [run(100)], [run(95)], leaky)
    assert "MISMATCH" in next(m.notes for m in result.metrics if m.name == "commands (sealed)")


def test_child_env_keeps_the_local_broker_local(tmp_path: Path) -> None:
    local = load_settings(home=tmp_path, kafka_bootstrap=None, topic_prefix="bench-x")
    env = child_env(local)
    assert "SUPPORTES_KAFKA_BOOTSTRAP" not in env  # the child keeps the local SASL credentials
    assert env["SUPPORTES_TOPIC_PREFIX"] == "bench-x"
    assert env["SUPPORTES_HOME"] == str(tmp_path.resolve())
    external = load_settings(home=tmp_path, kafka_bootstrap="kafka:9092")
    assert child_env(external)["SUPPORTES_KAFKA_BOOTSTRAP"] == "kafka:9092"
