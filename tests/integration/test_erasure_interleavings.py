"""Erasures at random points of random interleavings of several customers' cases (issue 16):
the live projections (each batch opened with the keys alive at that moment, then applied, as
the projector does) equal a rebuild after the erasures, and no erased customer's text is
readable anywhere in the database. Real PostgreSQL, the real key store, domain and projections.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportes.aggregates.data_subject import subject_aggregate_id
from supportes.aggregates.values import SYSTEM_ACTOR
from supportes.privacy.case_subjects import PgCaseSubjects
from supportes.privacy.edge import CommandSealer
from supportes.privacy.kek import FileKeyWrapper
from supportes.privacy.keystore import PgKeyStore
from supportes.privacy.opener import EventOpener
from supportes.projections.base import LoggedEvent
from tests.conftest import Isolated
from tests.support.commands import command
from tests.support.history import History, apply_all, batches, clear_tables, dump_tables, interleave
from tests.support.leaks import found_in, pg_dump
from tests.support.personal_story import marker_for, story

CUSTOMERS = 3


def _copy(events: list[LoggedEvent]) -> list[LoggedEvent]:
    """Fresh LoggedEvents of the same envelopes (opening replaces an event's envelope)."""
    return [LoggedEvent(e.stored, e.partition, e.offset) for e in events]


def _erasure(history: History, customer: str, minutes: float) -> list[LoggedEvent]:
    envelope = command(
        "EraseSubject",
        str(subject_aggregate_id(customer)),
        {"customer_id": customer, "key_fingerprints": []},
        minutes=minutes,
        actor=SYSTEM_ACTOR.id,
    )
    envelope["actor"] = SYSTEM_ACTOR.as_dict()
    return history.submit(envelope)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    erased=st.sets(st.integers(0, CUSTOMERS - 1), min_size=1, max_size=CUSTOMERS - 1),
    points=st.lists(st.floats(0.0, 1.0), min_size=CUSTOMERS, max_size=CUSTOMERS),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
)
def test_live_projections_equal_a_rebuild_and_nothing_erased_is_readable(
    isolated: Isolated, seed: int, erased: set[int], points: list[float], sizes: list[int]
) -> None:
    keys = PgKeyStore(isolated.dsn, FileKeyWrapper.from_settings(isolated.settings))
    try:
        tag = uuid.uuid4().hex[:8]
        customers = [f"customer:{tag}-{n}" for n in range(CUSTOMERS)]
        sealer = CommandSealer(keys, PgCaseSubjects(keys.pool))
        history = History()
        for n, customer in enumerate(customers):
            for case in range(2):
                for envelope in story(str(uuid.uuid4()), customer, n * 2 + case):
                    history.submit(sealer.seal(envelope))
        log = interleave(history.events, random.Random(seed))
        # each erasure lands at its point of the log (keys destroyed, then SubjectErased)
        cuts = sorted((int(points[n] * len(log)), customers[n]) for n in erased)
        live: list[Any] = []
        start = 0
        for cut, customer in [*cuts, (len(log), None)]:
            live.extend(_copy(log[start:cut]))
            if customer is not None:
                live.append(("erase", customer))
            start = cut
        clear_tables(isolated.dsn)
        opener = EventOpener(keys)
        pending: list[LoggedEvent] = []
        final_log: list[LoggedEvent] = []
        for item in [*live, ("end", None)]:
            if isinstance(item, LoggedEvent):
                pending.append(item)
                continue
            for batch in batches(pending, sizes):
                opener.open(batch)
                apply_all(isolated.dsn, batch, batch_size=len(batch))
            final_log.extend(pending)
            pending = []
            if item[0] == "erase":
                keys.erase(item[1], "hypothesis")
                recorded = _erasure(history, item[1], minutes=100_000)
                opener.open(recorded)
                apply_all(isolated.dsn, recorded)
                final_log.extend(recorded)
        live_tables = dump_tables(isolated.dsn)

        clear_tables(isolated.dsn)
        # a rebuild meets the partitions in another order: SubjectErased may come first
        rebuilt = _copy(interleave(final_log, random.Random(seed + 1)))
        for batch in batches(rebuilt, 1000):
            opener.open(batch)
            apply_all(isolated.dsn, batch, batch_size=len(batch))
        assert dump_tables(isolated.dsn) == live_tables

        dump = pg_dump(isolated.dsn)
        for n, customer in enumerate(customers):
            assert found_in(dump, marker_for(customer)) == (n not in erased), customer
    finally:
        keys.close()
