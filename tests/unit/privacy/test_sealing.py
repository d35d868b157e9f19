"""Sealing a command's personal fields at the front door and opening its events' on the read
side: every personal field sealed, bound to its place; opened only there, with the live key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from supportes.aggregates import Rejection, parse_command
from supportes.aggregates.dispatch import decide
from supportes.aggregates.personal import is_sealed, personal_fields
from supportes.aggregates.wire import BY_NAME
from supportes.privacy.cipher import new_data_key
from supportes.privacy.edge import CommandSealer
from supportes.privacy.keystore import SubjectErasedError, SubjectKey
from supportes.privacy.sealing import UNREADABLE, open_event, sealed_kids
from tests.support.personal_story import marker_for, story

CUSTOMER = "customer:ada"


class MemoryKeys:
    """A key store in memory (the port's contract, no database)."""

    def __init__(self) -> None:
        self.keys: dict[str, SubjectKey] = {}
        self.erased: set[str] = set()

    def key_for(self, subject: str) -> SubjectKey:
        if subject in self.erased:
            raise SubjectErasedError(subject)
        if subject not in self.keys:
            self.keys[subject] = SubjectKey(str(uuid.uuid4()), subject, new_data_key())
        return self.keys[subject]

    def by_kid(self) -> dict[str, SubjectKey]:
        return {key.kid: key for subject, key in self.keys.items() if subject not in self.erased}


class MemorySubjects:
    def __init__(self) -> None:
        self.bound: dict[uuid.UUID, str] = {}

    def bind(self, case_id: uuid.UUID, subject: str) -> str:
        return self.bound.setdefault(case_id, subject)

    def subject_of(self, case_id: uuid.UUID) -> str | None:
        return self.bound.get(case_id)


def _decided(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events the domain decides from (sealed) command envelopes, in order."""
    aggregate, last, events = None, None, []
    for envelope in envelopes:
        decision = decide(parse_command(envelope), aggregate, last_hash=last)
        aggregate, last = decision.aggregate, decision.aggregate.last_hash
        events.extend(decision.events)
    return events


def _sealer() -> tuple[CommandSealer, MemoryKeys]:
    keys = MemoryKeys()
    return CommandSealer(keys, MemorySubjects()), keys  # type: ignore[arg-type]


def test_every_personal_field_is_sealed_and_opens_back_to_its_text() -> None:
    sealer, keys = _sealer()
    commands = story(str(uuid.uuid4()), CUSTOMER)
    sealed = [sealer.seal(c) for c in commands]
    for plain, envelope in zip(commands, sealed, strict=True):
        assert marker_for(CUSTOMER) not in str(envelope)
        for name, value in plain["payload"].items():
            assert is_sealed(envelope["payload"][name]) == (marker_for(CUSTOMER) in str(value))
    events = _decided(sealed)
    assert sealed_kids(events) == {keys.keys[CUSTOMER].kid}
    texts = [
        open_event(event, keys.by_kid())["payload"][name]
        for event in events
        for name in personal_fields(BY_NAME[event["type"]].event_class)
        if is_sealed(event["payload"].get(name))
    ]
    assert len(texts) == 19  # the story: 17 fields, a resolution and a contact twice
    assert all(marker_for(CUSTOMER) in text for text in texts), texts


def test_without_its_key_a_field_reads_as_its_mask_and_moved_it_does_not_open() -> None:
    sealer, keys = _sealer()
    case_a, case_b = str(uuid.uuid4()), str(uuid.uuid4())
    events_a = _decided([sealer.seal(c) for c in story(case_a, CUSTOMER)[:2]])
    events_b = _decided([sealer.seal(c) for c in story(case_b, CUSTOMER, n=1)[:2]])
    opened_a, contact_b = events_a[0], events_b[1]
    forged = {
        **opened_a,
        "payload": {**opened_a["payload"], "subject": contact_b["payload"]["summary"]},
    }
    swapped = {
        **opened_a,
        "payload": {**opened_a["payload"], "subject": opened_a["payload"]["description"]},
    }
    assert open_event(forged, keys.by_kid())["payload"]["subject"] == UNREADABLE
    assert open_event(swapped, keys.by_kid())["payload"]["subject"] == UNREADABLE
    assert open_event(opened_a, {})["payload"]["subject"] == "[erased]"
    assert open_event(opened_a, keys.by_kid())["payload"]["customer_id"] == CUSTOMER


def test_the_same_command_sealed_twice_is_the_same_bytes() -> None:
    sealer, _ = _sealer()
    opening = story(str(uuid.uuid4()), CUSTOMER)[0]
    assert sealer.seal(opening) == sealer.seal(opening)


def test_refusals_at_the_front_door() -> None:
    sealer, keys = _sealer()
    case_id = str(uuid.uuid4())
    contact = story(case_id, CUSTOMER)[1]
    with pytest.raises(Rejection) as unknown:
        sealer.seal(contact)
    assert (unknown.value.code, unknown.value.field) == ("not_found", "aggregate_id")
    sealer.seal(story(case_id, CUSTOMER)[0])
    other = story(case_id, "customer:bob")[0]
    with pytest.raises(Rejection) as taken:
        sealer.seal(other)
    assert taken.value.code == "already_exists"
    keys.erased.add(CUSTOMER)
    with pytest.raises(Rejection) as erased:
        sealer.seal(contact)
    assert erased.value.code == "subject_erased"
    assert CUSTOMER not in erased.value.message


def test_a_command_without_personal_text_is_sent_as_it_is() -> None:
    sealer, keys = _sealer()
    close = {"type": "Close", "aggregate_id": str(uuid.uuid4()), "payload": {}}
    assert sealer.seal(close) == close
    assert not keys.keys


def test_ids_in_another_spelling_still_bind_to_the_events_ids() -> None:
    sealer, keys = _sealer()
    opening = story(str(uuid.uuid4()), CUSTOMER)[0]
    shouting = {**opening, "command_id": opening["command_id"].upper()}
    shouting["aggregate_id"] = opening["aggregate_id"].upper()
    (event,) = _decided([sealer.seal(shouting)])
    assert marker_for(CUSTOMER) in open_event(event, keys.by_kid())["payload"]["subject"]
