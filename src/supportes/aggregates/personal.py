"""Which fields hold a data subject's personal data: declared on the field itself.

A case's data subject is its customer (design section 9), and every free-text field of a case's
commands and events is that customer's personal data, also when an agent wrote it (replies quote
the customer). A field says so in its type: ``subject: Annotated[ShortText, PERSONAL]`` on a
command payload, ``subject: Annotated[str, PERSONAL]`` on an event. :func:`personal_fields`
reads the marks back, for pydantic models and for the events' dataclasses alike, so that
encryption, masking and log scrubbing all follow one declaration.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class PersonalData:
    """The mark of a personal field; ``mask`` is what it reads as once its subject is erased."""

    mask: str = "[erased]"


PERSONAL = PersonalData()
"""The mark every personal field of a case carries (``Annotated[..., PERSONAL]``)."""


def _marks(metadata: typing.Iterable[Any]) -> PersonalData | None:
    for item in metadata:
        if isinstance(item, PersonalData):
            return item
    return None


@cache
def personal_fields(schema: type) -> dict[str, PersonalData]:
    """Field name -> its mark, for each personal field of ``schema`` (a pydantic model or a
    dataclass, such as an event class), in declaration order; empty when it has none."""
    found: dict[str, PersonalData] = {}
    model_fields = getattr(schema, "model_fields", None)
    if isinstance(model_fields, dict):  # a pydantic model: marks land in each field's metadata
        for name, info in model_fields.items():
            mark = _marks(info.metadata)
            if mark is not None:
                found[name] = mark
        return found
    hints = typing.get_type_hints(schema, include_extras=True)
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated:
            mark = _marks(typing.get_args(hint)[1:])
            if mark is not None:
                found[name] = mark
        else:  # Optional[Annotated[...]]: look one level in
            for argument in typing.get_args(hint):
                if typing.get_origin(argument) is typing.Annotated:
                    mark = _marks(typing.get_args(argument)[1:])
                    if mark is not None:
                        found[name] = mark
    return found
