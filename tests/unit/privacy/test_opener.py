"""The read side's batch opener: each event's personal fields opened into a copy of its
envelope, the projections see the plaintext, ``stored`` (what parking keeps) stays sealed, and
an erased customer's fields, sealed or plaintext, read ``[erased]``."""

from __future__ import annotations

import uuid
from typing import Any

from supportes.aggregates.hashchain import canonical_json
from supportes.aggregates.personal import is_sealed
from supportes.eventstore.envelopes import decode_event
from supportes.privacy.opener import EventOpener
from supportes.privacy.sealing import event_personal_fields
from supportes.projections.base import LoggedEvent
from tests.support.personal_story import marker_for, story
from tests.unit.privacy.test_sealing import CUSTOMER, MemoryKeys, _decided, _sealer


class _Store:
    """The opener's view of a key store: live keys by kid, erased cases."""

    def __init__(self, keys: MemoryKeys, erased_cases: set[str] | None = None) -> None:
        self.keys = keys
        self.cases = erased_cases or set()

    def keys_by_kid(self, kids: Any) -> dict[str, Any]:
        return {k: v for k, v in self.keys.by_kid().items() if k in set(kids)}

    def erased_cases(self, case_ids: Any) -> set[str]:
        return self.cases & set(case_ids)


def _sealed_log() -> tuple[list[dict[str, Any]], list[dict[str, Any]], MemoryKeys]:
    sealer, keys = _sealer()
    commands = story(str(uuid.uuid4()), CUSTOMER)
    plain = _decided(commands)
    sealed = _decided([sealer.seal(c) for c in commands])
    return plain, sealed, keys


def test_opened_for_the_projections_sealed_for_parking() -> None:
    plain, sealed, keys = _sealed_log()
    raws = [canonical_json(e) for e in sealed]
    events = [LoggedEvent(decode_event(raw), 0, n) for n, raw in enumerate(raws)]
    EventOpener(_Store(keys)).open(events)  # type: ignore[arg-type]
    for event, before, raw in zip(events, plain, raws, strict=True):
        assert event.payload == before["payload"]
        assert event.envelope["payload"] == before["payload"]
        assert event.stored == decode_event(raw)  # the log's envelope: sealed
        assert marker_for(CUSTOMER) not in str(event.stored)
        if any(
            is_sealed(event.stored["payload"].get(n)) for n in event_personal_fields(event.type)
        ):
            assert event.envelope is not event.stored


def test_an_erased_customers_plaintext_and_sealed_fields_read_erased() -> None:
    _, sealed, keys = _sealed_log()
    case_id = sealed[0]["aggregate_id"]
    keys.erased.add(CUSTOMER)
    raws = [canonical_json(e) for e in sealed]
    events = [LoggedEvent(decode_event(r), 0, n) for n, r in enumerate(raws)]
    EventOpener(_Store(keys, {case_id})).open(events)  # type: ignore[arg-type]
    assert marker_for(CUSTOMER) not in str([e.envelope for e in events])
    texts = [
        e.payload[name]
        for e in events
        for name in event_personal_fields(e.type)
        if name in e.payload
    ]
    assert texts
    assert set(texts) == {"[erased]"}
    assert [e.stored for e in events] == [decode_event(r) for r in raws]
