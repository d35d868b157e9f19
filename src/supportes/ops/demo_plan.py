"""The demo data set as a plan: deterministic command envelopes for N cases, ending at "now".

Pure (no I/O). The same ``(seed, cases, start)`` always gives the same envelopes, command ids
included, so loading a plan twice writes nothing the second time. ``start`` is the only input
that depends on the wall clock; a loaded set records it as the time its root causes were
identified, which is how a later run finds the same plan again (see :mod:`supportes.ops.demo`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from supportes.simulation import Envelope, TrafficGenerator

DEMO_SEED = 7
DEFAULT_CASES = 200
WINDOW_DAYS = 14.0
"""The cases open within the last two weeks; their steps run until "now"."""


@dataclass(frozen=True)
class DemoPlan:
    """The envelopes of one demo data set, in send order."""

    seed: int
    cases: int
    start: datetime
    end: datetime
    envelopes: list[Envelope]
    case_ids: list[str]
    root_cause_ids: list[str]

    @property
    def aggregate_ids(self) -> list[str]:
        """Every case and root cause of the set."""
        return [*self.root_cause_ids, *self.case_ids]

    @property
    def example_case_id(self) -> str:
        """The case with the longest history (first opened among equals): worth a look."""
        counts = Counter(e["aggregate_id"] for e in self.envelopes)
        return max(self.case_ids, key=lambda case_id: counts[case_id])

    def type_counts(self) -> dict[str, int]:
        """Commands per type, most frequent first."""
        return dict(Counter(e["type"] for e in self.envelopes).most_common())


def generator(seed: int, cases: int, start: datetime) -> TrafficGenerator:
    """The generator of a demo set: sized so customers return and root causes recur."""
    return TrafficGenerator(
        _set_seed(seed, cases),
        start=start,
        customers=max(10, cases // 4),
        root_causes=max(3, cases // 30),
        known_answers=max(5, cases // 25),
        agents=12,
        full_mix=True,
    )


def anchor_root_cause_id(seed: int, cases: int) -> str:
    """A root cause of the set, identified exactly at the window's start (independent of it)."""
    return generator(seed, cases, datetime(2000, 1, 1, tzinfo=UTC)).root_cause_ids[0]


def build_plan(seed: int, cases: int, start: datetime) -> DemoPlan:
    """The demo set of ``cases`` cases whose window starts at ``start``."""
    gen = generator(seed, cases, start)
    envelopes = list(gen.lifecycles(cases, days=WINDOW_DAYS))
    case_ids = list(dict.fromkeys(e["aggregate_id"] for e in envelopes if e["type"] == "OpenCase"))
    return DemoPlan(
        seed=seed,
        cases=cases,
        start=start,
        end=start + timedelta(days=WINDOW_DAYS),
        envelopes=envelopes,
        case_ids=case_ids,
        root_cause_ids=list(gen.root_cause_ids),
    )


def chunks(
    envelopes: Sequence[Envelope], size: int, *, first: int | None = None
) -> Iterator[list[Envelope]]:
    """Batches of ``size`` (the first of ``first``) to submit one after another, each answered
    before the next is sent.

    A batch also ends before a ``VerifyFix`` of a root cause that a ``LinkRootCause`` in it
    points to: the writer attaches the case through a follow-on command, which must reach the
    root cause before its verification (or the attachment would count as a recurrence).
    """
    batch: list[Envelope] = []
    linked: set[str] = set()
    limit = first or size
    for envelope in envelopes:
        verifies_linked = envelope["type"] == "VerifyFix" and envelope["aggregate_id"] in linked
        if batch and (len(batch) >= limit or verifies_linked):
            yield batch
            batch, linked, limit = [], set(), size
        batch.append(envelope)
        if envelope["type"] == "LinkRootCause":
            linked.add(str(envelope["payload"]["root_cause_id"]))
    if batch:
        yield batch


def _set_seed(seed: int, cases: int) -> int:
    """Sets of different sizes share no ids (a second, larger demo adds, never mixes)."""
    digest = hashlib.sha256(f"supportes-demo:{seed}:{cases}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
