"""Step 4 of the projection benchmark (issue 16): the same events with their personal fields
sealed, replayed beside the plain ones, and the ratio (:mod:`~supportes.bench.projection_bench`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from supportes.bench.replay_child import Replay, replay_in_child
from supportes.bench.replay_events import (
    DomainEvents,
    Published,
    Sealing,
    publish,
)
from supportes.bench.replay_helpers import (
    KIB_PER_MIB,
    short_count,
)
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.stats import rate
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.privacy.kek import FileKeyWrapper
from supportes.privacy.keystore import SubjectKey
from supportes.settings import Settings

SEALED_ROUNDS = 3
"""Plain and sealed replays at the first point's size, alternating (plain, sealed, sealed,
plain, plain, sealed: the median of the rounds' ratios; one busy moment of a 2-core machine
moves a single ratio by 10 points). Each round adds ~20 s at the default scale; with the
sealed stream's generation (~30 s) the comparison adds ~1.5 min to the benchmark."""
SEALED_TARGET_PCT = 90.0
"""Issue 16: replay with personal fields sealed at >= 90 % of the plaintext speed."""


# -- 4. encryption on: the same events sealed ----------------------------------------------------


@dataclass
class SealedComparison:
    """Plain and sealed replays of the same seed's first ``size`` events, round by round."""

    size: int
    plain: list[Replay]
    sealed: list[Replay]
    published: Published
    keys: int
    sealing: Sealing


def insert_keys(dsn: str, keys: list[SubjectKey], wrapper: FileKeyWrapper) -> None:
    """Store ``keys`` wrapped by ``wrapper`` in ``privacy.subject_keys`` (as a key store made
    them on first use)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id)"
                " VALUES (%s::uuid, %s, %s, %s)",
                [(k.kid, k.subject, wrapper.wrap(k.key), wrapper.kek_id) for k in keys],
            )
        conn.commit()
    finally:
        conn.close()


def sealed_comparison(
    settings: Settings,
    plain_scratch: Settings,
    size: int,
    first_plain: Replay,
    *,
    seed: int,
    audit_key: bytes | None,
    wrapper: FileKeyWrapper,
    rounds: int = SEALED_ROUNDS,
) -> SealedComparison:
    """Publish the first ``size`` events of ``seed`` sealed to topics of their own; replay them
    and ``plain_scratch``'s (which holds the same events in plaintext) ``rounds`` times each,
    alternating; ``first_plain`` is the first round's plain replay. The keys are stored
    wrapped by ``wrapper`` (the KEK the child reads from ``SUPPORTES_KEK_FILE``)."""
    sealing = Sealing()
    domain = DomainEvents(seed, audit_key=audit_key, sealing=sealing)
    published = Published()
    plain = [first_plain]
    sealed: list[Replay] = []
    with scratch_topics(settings) as scratch:
        publish(scratch, iter(domain), size, published, label=" sealed")
        keys = list(sealing.keys.values())
        for number in range(rounds):
            order = (False, True) if number % 2 == 0 else (True, False)
            for with_keys in order:
                if number == 0 and not with_keys:
                    continue  # the point's own replay
                label = f" {'sealed' if with_keys else 'plain'} {number + 1}/{rounds}"
                with scratch_database(settings) as dsn:
                    migrate_database(dsn)
                    if with_keys:
                        insert_keys(dsn, keys, wrapper)
                        sealed.append(replay_in_child(scratch, dsn, size, label=label))
                    else:
                        plain.append(replay_in_child(plain_scratch, dsn, size, label=label))
    return SealedComparison(size, plain, sealed, published, len(keys), sealing)


def sealed_check(comparison: SealedComparison) -> str:
    """``ok``, or what is wrong with the sealed replays (beside the first plain one)."""
    size, plain = comparison.size, comparison.plain[0]
    problems = []
    for replay in comparison.sealed:
        if replay.events != size or replay.timeline_rows != size or replay.parked:
            problems.append(
                f"events {replay.events:,}, timeline rows {replay.timeline_rows:,},"
                f" parked {replay.parked:,}"
            )
        if replay.masked:
            problems.append(f"{replay.masked:,} of {replay.cases:,} cases masked (keys missing?)")
        if replay.texts_digest != plain.texts_digest or replay.cases != plain.cases:
            problems.append("case texts differ from the plain replay's")
    if comparison.sealing.sealed == 0 or comparison.sealing.unsealed:
        problems.append(
            f"{comparison.sealing.sealed:,} commands sealed,"
            f" {comparison.sealing.unsealed:,} left in plaintext"
        )
    return "ok" if not problems else "MISMATCH " + "; ".join(dict.fromkeys(problems))


def sealed_metrics(result: Result, comparison: SealedComparison) -> None:
    label = short_count(comparison.size)
    plain = [r.events_per_s for r in comparison.plain]
    sealed = [r.events_per_s for r in comparison.sealed]
    runs = ", ".join(f"{v:,.0f}" for v in sealed)
    result.add(
        f"replay {label} (sealed)",
        statistics.median(sealed),
        "events/s",
        f"median of {len(sealed)} rebuilds of the same events, personal fields sealed"
        f" ({comparison.sealing.sealed:,} commands, {comparison.keys:,} customers' keys in"
        f" privacy.subject_keys); runs {runs}; check {sealed_check(comparison)}",
    )
    result.add(
        f"replay {label} (plain)",
        statistics.median(plain),
        "events/s",
        f"median of {len(plain)} rebuilds, alternating with the sealed ones (the first is"
        f" 'replay {label}'); runs {', '.join(f'{v:,.0f}' for v in plain)}",
    )
    ratios = [100 * rate(s, p) for p, s in zip(plain, sealed, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= SEALED_TARGET_PCT else "NOT met"
    result.add(
        f"sealed / plain {label}",
        ratio,
        "%",
        f"median of the rounds' ratios ({', '.join(f'{r:.1f}' for r in ratios)});"
        f" target >= {SEALED_TARGET_PCT:.0f}% (issue 16): {verdict}",
    )
    pairs = zip(comparison.plain, comparison.sealed, strict=True)
    cpu = [100 * rate(p.cpu_s, s.cpu_s) for p, s in pairs]
    if cpu and all(cpu):
        result.add(
            f"sealed / plain CPU {label}",
            statistics.median(cpu),
            "%",
            "plain child's CPU s / sealed child's (user + system, start-up included; less"
            f" swayed by other load than the rates): {', '.join(f'{c:.1f}' for c in cpu)}",
        )
    result.add(
        f"peak RSS {label} (sealed)",
        max(r.peak_rss_kib for r in comparison.sealed) / KIB_PER_MIB,
        "MiB",
        f"highest VmHWM of the sealed rebuilds; plain:"
        f" {max(r.peak_rss_kib for r in comparison.plain) / KIB_PER_MIB:.0f} MiB",
    )
    published = comparison.published
    result.add(
        "generate+publish (sealed)",
        rate(published.events, published.seconds),
        "events/s",
        f"{published.events:,} events; seal (in memory) + decide + canonical_json,"
        f" avg {published.value_bytes / max(1, published.events):.0f} B",
    )
