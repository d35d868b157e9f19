"""Sealing a log written before encryption (``privacy seal-log``'s transformation): every
plaintext personal field sealed with its case customer's key and opening back to its text, an
erased customer's text masked, fields sealed already kept, and each hash chain re-linked so it
verifies (with the audit key) over the new bytes."""

from __future__ import annotations

import uuid
from typing import Any

from supportes.aggregates.hashchain import verify_chain
from supportes.aggregates.personal import is_sealed
from supportes.privacy.log_sealing import EventSealer
from supportes.privacy.sealing import event_personal_fields, open_event
from tests.support.personal_story import marker_for, story
from tests.unit.privacy.test_sealing import CUSTOMER, MemoryKeys, _decided, _sealer

AUDIT_KEY = b"audit-key-for-the-test"
OTHER = "customer:bob"


def _plain_log(*customers: str) -> list[dict[str, Any]]:
    """Events of one case per customer, decided from plaintext commands, interleaved."""
    cases = [_decided(story(str(uuid.uuid4()), c, n)) for n, c in enumerate(customers)]
    return [e for events in zip(*cases, strict=True) for e in events]


def _personal_values(event: dict[str, Any]) -> list[Any]:
    payload = event["payload"]
    return [payload[name] for name in event_personal_fields(event["type"]) if name in payload]


def test_every_plaintext_field_is_sealed_opens_back_and_the_chains_verify() -> None:
    log = _plain_log(CUSTOMER, OTHER)
    keys = MemoryKeys()
    sealer = EventSealer(keys, audit_key=AUDIT_KEY)  # type: ignore[arg-type]
    sealed = [sealer.seal(event) for event in log]

    assert sealer.counts.sealed_fields > len(log) // 2
    assert (sealer.counts.masked_fields, sealer.counts.unknown_customer) == (0, set())
    for before, after in zip(log, sealed, strict=True):
        assert marker_for(CUSTOMER) not in str(after)
        assert marker_for(OTHER) not in str(after)
        assert all(is_sealed(v) for v in _personal_values(after))
        assert open_event(after, keys.by_kid())["payload"] == before["payload"]
        unchanged = ("event_id", "type", "aggregate_id", "version", "command_id", "actor")
        assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    for case in {e["aggregate_id"] for e in sealed}:
        chain = [e for e in sealed if e["aggregate_id"] == case]
        assert verify_chain(chain, AUDIT_KEY).ok
        assert not verify_chain(chain, b"another key").ok
    assert verify_chain([e for e in log if e["aggregate_id"] == case]).ok  # the old chain too


def test_an_erased_customers_text_is_masked_and_another_is_sealed() -> None:
    log = _plain_log(CUSTOMER, OTHER)
    keys = MemoryKeys()
    keys.erased.add(CUSTOMER)
    sealer = EventSealer(keys, audit_key=None)  # type: ignore[arg-type]
    sealed = [sealer.seal(event) for event in log]
    assert sealer.counts.masked_fields > 0
    for event in sealed:
        values = _personal_values(event)
        if event["aggregate_id"] == log[0]["aggregate_id"]:
            assert all(v == "[erased]" for v in values)
        else:
            assert all(is_sealed(v) for v in values)
    assert marker_for(CUSTOMER) not in str(sealed)


def test_sealed_fields_are_kept_and_a_case_without_its_opening_is_reported() -> None:
    front_door, keys = _sealer()
    case_id = str(uuid.uuid4())
    already = _decided([front_door.seal(c) for c in story(case_id, CUSTOMER)])
    sealer = EventSealer(keys, audit_key=None)  # type: ignore[arg-type]
    again = [sealer.seal(event) for event in already]
    for before, after in zip(already, again, strict=True):
        for name in event_personal_fields(before["type"]):
            value = before["payload"].get(name)
            if is_sealed(value):
                assert after["payload"][name] == value  # kept as it was
            elif isinstance(value, str):  # a text the domain wrote itself (a reopening's)
                assert is_sealed(after["payload"][name])
    assert again[0] == already[0]  # nothing to seal in it: the same bytes, the same hash
    assert sealer.counts.sealed_fields == 1

    orphan = EventSealer(MemoryKeys(), audit_key=None)  # type: ignore[arg-type]
    plain = _plain_log(OTHER)
    tail = [orphan.seal(event) for event in plain[1:]]  # its CaseOpened is not in this log
    assert orphan.counts.unknown_customer == {plain[0]["aggregate_id"]}
    assert marker_for(OTHER) in str(tail)  # left as it was, and said so

    bound = EventSealer(keys, audit_key=None, customer_of={plain[0]["aggregate_id"]: OTHER}.get)  # type: ignore[arg-type]
    assert marker_for(OTHER) not in str([bound.seal(event) for event in plain[1:]])
