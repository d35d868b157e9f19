"""A sealed personal field passes through the domain unopened: checked for its shape, copied
into the event as it is, read back from the log as it is. Only personal fields may be sealed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from supportes.aggregates import Rejection, parse_command
from supportes.aggregates.dispatch import apply_envelope, decide
from supportes.aggregates.wire import from_envelope
from tests.support.commands import command, open_case

SEALED = {"$enc": "v1", "kid": "k-1", "nonce": "AAAAAAAAAAAAAAAA", "ct": "c2VjcmV0IHRleHQ="}


def _sealed_open_case() -> dict[str, Any]:
    envelope = open_case(str(uuid.uuid4()))
    envelope["payload"] = {**envelope["payload"], "subject": SEALED, "description": SEALED}
    return envelope


def test_a_sealed_command_is_decided_and_its_events_carry_the_sealed_fields() -> None:
    decision = decide(parse_command(_sealed_open_case()), None, last_hash=None)
    (opened,) = decision.events
    assert opened["payload"]["subject"] == SEALED
    assert opened["payload"]["description"] == SEALED
    event = from_envelope(opened)
    assert event.subject == SEALED  # type: ignore[attr-defined]
    case = apply_envelope(None, opened)
    summary = command(
        "RecordContact",
        str(case.id),
        {"direction": "inbound", "channel": "email", "summary": SEALED},
        minutes=1,
    )
    later = decide(parse_command(summary), case, last_hash=decision.aggregate.last_hash)
    assert later.events[0]["payload"]["summary"] == SEALED


@pytest.mark.parametrize(
    ("broken", "rule"),
    [
        ({**SEALED, "extra": "x"}, 'exactly {"$enc": "v1", "kid", "nonce", "ct"}'),
        ({**SEALED, "kid": ""}, "kid must be a string"),
        ({**SEALED, "nonce": "AAAA"}, "nonce must be 12 bytes in base64"),
        ({**SEALED, "ct": "not base64!"}, "ct must be base64"),
        ({**SEALED, "ct": "A" * 200_000}, "ct must be base64 of at most"),
    ],
)
def test_a_misshapen_sealed_field_is_refused_naming_the_field(
    broken: dict[str, Any], rule: str
) -> None:
    envelope = _sealed_open_case()
    envelope["payload"]["description"] = broken
    with pytest.raises(Rejection) as refused:
        parse_command(envelope)
    assert refused.value.field == "payload.description"
    assert rule in refused.value.message


def test_only_personal_fields_may_be_sealed() -> None:
    envelope = open_case(str(uuid.uuid4()))
    envelope["payload"]["customer_id"] = SEALED
    with pytest.raises(Rejection) as refused:
        parse_command(envelope)
    assert refused.value.field == "payload.customer_id"


def test_a_sealed_field_keeps_its_plaintext_rules_off_but_the_others_on() -> None:
    envelope = _sealed_open_case()
    envelope["payload"]["channel"] = "carrier pigeon"
    with pytest.raises(Rejection) as refused:
        parse_command(envelope)
    assert refused.value.field == "payload.channel"
