"""One rule for every string of every command: nothing a store downstream cannot hold.

U+0000 and unpaired surrogates are refused with ``invalid`` naming the field; every other code
point of every plane is accepted, and what is accepted serialises to UTF-8 JSON without them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from domain_gwt import VALID_PAYLOADS, Scenario
from hypothesis import given
from hypothesis import strategies as st

from supportes import fastjson
from supportes.aggregates import Rejection, parse_command
from supportes.aggregates.storable import first_unstorable
from tests.support.text_fields import TextField, text_fields

FIELDS = text_fields()
BAD = ["\x00", "\ud800", "\udfff", "\udbff"]


def envelope(field: TextField, value: str) -> dict[str, Any]:
    payload = dict(VALID_PAYLOADS[field.command])
    payload[field.name] = [value] if field.listed else value
    return {
        "command_id": "6f1d3c1a-8a0e-4a53-9c55-2f2f0b1e8d01",
        "type": field.command,
        "aggregate_id": "0d9c1a77-3b2e-4a51-8f0c-2b7e9d6c5a41",
        "issued_at": "2026-11-22T10:00:00Z",
        "actor": {"id": "agent:maria", "kind": "agent"},
        "payload": payload,
    }


def field_path(field: TextField) -> str:
    return f"payload.{field.name}" + ("[0]" if field.listed else "")


def test_the_fields_are_read_off_the_models() -> None:
    names = {(f.command, f.name) for f in FIELDS}
    assert ("OpenCase", "subject") in names
    assert ("OpenCase", "tags") in names
    assert ("RateSatisfaction", "comment") in names
    assert ("IdentifyRootCause", "title") in names
    assert len(FIELDS) > 30


@pytest.mark.parametrize("bad", BAD, ids=["nul", "high", "low", "high-last"])
@pytest.mark.parametrize("field", FIELDS, ids=[f"{f.command}.{f.name}" for f in FIELDS])
def test_an_unstorable_code_point_is_invalid_naming_the_field(field: TextField, bad: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_command(envelope(field, f"before{bad}after"))
    assert caught.value.code == "invalid"
    assert caught.value.field == field_path(field)
    assert f"U+{ord(bad):04X}" in caught.value.message


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (lambda e: e["actor"].update(id="agent:\x00"), "actor.id"),
        (lambda e: e.update(type="Open\x00Case"), "type"),
        (lambda e: e["payload"].update({"extra\x00": "x"}), "payload"),
    ],
)
def test_the_rule_covers_the_envelope_too(where: Any, expected: str) -> None:
    raw = envelope(FIELDS[0], "fine")
    where(raw)
    with pytest.raises(Rejection) as caught:
        parse_command(raw)
    assert (caught.value.code, caught.value.field) == ("invalid", expected)


def test_a_surrogate_pair_escape_is_one_character_and_accepted() -> None:
    raw = json.loads('{"s": "\\ud83d\\ude00"}')
    assert raw["s"] == "\U0001f600"
    assert first_unstorable(raw) is None


@given(
    field=st.sampled_from(FIELDS),
    text=st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
    | st.text(min_size=1, max_size=50).map(lambda t: t * 500),
)
def test_any_text_is_refused_naming_the_field_or_accepted_and_storable(
    field: TextField, text: str
) -> None:
    raw = envelope(field, text)
    refused: Rejection | None = None
    try:
        command = parse_command(raw)
    except Rejection as rejection:
        refused = rejection
    if refused is not None:
        assert refused.code == "invalid"
        assert refused.field is not None
        assert refused.field.startswith(f"payload.{field.name}")
        return
    assert first_unstorable(raw) is None
    decided = Scenario().given(*_before(field)).when(field.command, raw["payload"])
    for event in decided.decision.events if decided.decision else []:
        assert first_unstorable(event) is None
        fastjson.dumps(event).decode("utf-8")  # strict UTF-8: no surrogate made it through
    assert command.type == field.command


def _before(field: TextField) -> list[Any]:
    """Enough history for the command to be decided (or rejected by a rule, which is fine)."""
    if field.command in ("OpenCase", "IdentifyRootCause"):
        return []
    if field.command in ("PlanPreventiveAction", "CompletePreventiveAction", "VerifyFix",
                         "ReopenRootCause", "AttachCase"):  # fmt: skip
        return ["IdentifyRootCause"]
    return ["OpenCase"]
