"""Every free-text field of every command, read off the payload models (not a list kept here)."""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, NamedTuple

from supportes.aggregates import COMMAND_PAYLOADS


class TextField(NamedTuple):
    """One string-valued payload field; ``listed``: a list of strings (``tags``)."""

    command: str
    name: str
    listed: bool


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _unannotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_str(annotation: Any) -> bool:
    return _unannotated(annotation) is str


def text_fields() -> list[TextField]:
    """``(command type, field, listed)`` for every ``str`` or ``tuple[str, ...]`` field."""
    found: list[TextField] = []
    for command, model in sorted(COMMAND_PAYLOADS.items()):
        for name, info in model.model_fields.items():
            annotation = _unannotated(_strip_optional(info.annotation))
            if annotation is str:
                found.append(TextField(command, name, False))
            elif typing.get_origin(annotation) is tuple and _is_str(typing.get_args(annotation)[0]):
                found.append(TextField(command, name, True))
            elif isinstance(annotation, type) and issubclass(annotation, Enum):
                continue
    return found
