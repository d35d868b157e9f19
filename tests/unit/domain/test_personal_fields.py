"""Personal-data marks (design section 9): every free-text field of a case's commands and events
is its customer's personal data, declared on the field; nothing else is."""

from __future__ import annotations

import inspect
from typing import Any

from supportes.aggregates.case import Case
from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.dispatch import ROUTES
from supportes.aggregates.personal import PERSONAL, personal_fields
from supportes.aggregates.root_cause import RootCause
from supportes.aggregates.values import MAX_LONG_TEXT, MAX_SHORT_TEXT

FREE_TEXT_LIMITS = {MAX_SHORT_TEXT, MAX_LONG_TEXT}


def _is_free_text(schema: dict[str, Any]) -> bool:
    """A JSON schema property that is (optionally) a Text or ShortText string."""
    branches = schema.get("anyOf", [schema])
    return any(
        b.get("type") == "string" and b.get("maxLength") in FREE_TEXT_LIMITS for b in branches
    )


def _events(aggregate: type) -> list[type]:
    base = aggregate.Event  # type: ignore[attr-defined]
    return [
        member
        for _, member in inspect.getmembers(aggregate, inspect.isclass)
        if issubclass(member, base) and member is not base
    ]


def test_every_free_text_field_of_a_case_command_is_personal_and_nothing_else() -> None:
    checked = 0
    for name, route in ROUTES.items():
        model = COMMAND_PAYLOADS[name]
        properties = model.model_json_schema().get("properties", {})
        marked = set(personal_fields(model))
        if route.aggregate_class is Case:
            free_text = {field for field, schema in properties.items() if _is_free_text(schema)}
            assert marked == free_text, name
            checked += len(marked)
        else:  # a root cause is about many customers' cases; an erasure record holds none
            assert marked == set(), name
    assert checked >= 15


def test_case_events_mark_the_fields_their_commands_mark() -> None:
    command_personal = {
        field
        for name, route in ROUTES.items()
        if route.aggregate_class is Case
        for field in personal_fields(COMMAND_PAYLOADS[name])
    }
    for event in _events(Case):
        fields = {  # text fields (an outcome may be an enum on one event, text on another)
            name
            for name, hint in getattr(event, "__annotations__", {}).items()
            if "str" in str(hint) and "tuple" not in str(hint)
        }
        assert set(personal_fields(event)) == fields & command_personal, event.__name__
    assert set(personal_fields(Case.CaseOpened)) == {"subject", "description"}
    for event in _events(RootCause):
        assert personal_fields(event) == {}, event.__name__


def test_the_mark_names_the_mask_erased_fields_read_as() -> None:
    assert personal_fields(Case.ContactRecorded)["summary"] is PERSONAL
    assert PERSONAL.mask == "[erased]"


def test_a_marked_field_validates_as_before() -> None:
    model = COMMAND_PAYLOADS["Acknowledge"]
    assert model.model_validate({"message": "hello"}).message == "hello"  # type: ignore[attr-defined]
    assert model.model_validate({}).message is None  # type: ignore[attr-defined]
