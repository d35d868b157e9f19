"""Which fields hold a data subject's personal data: declared on the field itself.

A case's data subject is its customer (design section 9), and every free-text field of a case's
commands and events is that customer's personal data, also when an agent wrote it (replies quote
the customer). A field says so in its type: ``subject: Annotated[ShortText, PERSONAL]`` on a
command payload, ``subject: Annotated[str, PERSONAL]`` on an event. :func:`personal_fields`
reads the marks back, for pydantic models and for the events' dataclasses alike, so that
encryption, masking and log scrubbing all follow one declaration.

A personal field may travel sealed (encrypted where the command was made): an opaque object
``{"$enc": "v1", "kid", "nonce", "ct"}``. The domain never opens one; it checks its shape
(:func:`sealed_shape_problem`) and copies it into the event as it is.
"""

from __future__ import annotations

import binascii
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeGuard

from supportes.aggregates.values import MAX_LONG_TEXT

SEALED_MARK = "$enc"
SEALED_VERSION = "v1"
SEALED_KEYS = frozenset({SEALED_MARK, "kid", "nonce", "ct"})
MAX_KID = 100
NONCE_CHARS = 16
"""A 96-bit nonce in base64."""
MAX_SEALED_CHARS = 4 * ((4 * MAX_LONG_TEXT + 16) // 3 + 1)
"""The longest ``ct`` a sealed field may have: the longest text (4 bytes a character at most)
and its 16-byte tag, in base64."""


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


def is_sealed(value: object) -> TypeGuard[Mapping[str, Any]]:
    """Whether ``value`` is marked as a sealed field (its shape is checked separately)."""
    if type(value) is dict:  # what JSON decodes to: no ABC check on the hot path
        return value.get(SEALED_MARK) == SEALED_VERSION
    return isinstance(value, Mapping) and value.get(SEALED_MARK) == SEALED_VERSION


def sealed_shape_problem(value: Mapping[str, Any]) -> str | None:
    """What is wrong with the shape of a sealed field, or None when it has the right one."""
    if set(value) != SEALED_KEYS or value[SEALED_MARK] != SEALED_VERSION:
        return 'a sealed field must be exactly {"$enc": "v1", "kid", "nonce", "ct"}'
    kid, nonce, ciphertext = value["kid"], value["nonce"], value["ct"]
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID:
        return f"a sealed field's kid must be a string of 1 to {MAX_KID} characters"
    if not isinstance(nonce, str) or len(nonce) != NONCE_CHARS or not _base64(nonce):
        return "a sealed field's nonce must be 12 bytes in base64"
    if not isinstance(ciphertext, str) or not 0 < len(ciphertext) <= MAX_SEALED_CHARS:
        return f"a sealed field's ct must be base64 of at most {MAX_SEALED_CHARS} characters"
    if not _base64(ciphertext):
        return "a sealed field's ct must be base64"
    return None


def _base64(text: str) -> bool:
    """Whether ``text`` is strict base64 (standard alphabet, padded; what sealing writes)."""
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True
