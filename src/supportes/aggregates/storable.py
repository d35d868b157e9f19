"""Text that every store downstream can hold: the one rule shared by every command.

A command's strings end up in the event index, every projection, parked events and dead letters.
PostgreSQL's ``text`` and ``jsonb`` cannot hold U+0000, and no UTF-8 store can hold an unpaired
surrogate (U+D800-U+DFFF, which JSON's ``\\uD800`` escapes can smuggle in). Such a string is
refused at the edge, before anything is decided, with ``invalid`` naming the field; every other
code point (controls, private use, non-characters, every plane) is accepted and stored as is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_char(text: str) -> str | None:
    """The first code point of ``text`` no store can hold, or None."""
    match = _UNSTORABLE.search(text)
    return match.group() if match else None


def scrub(text: str) -> str:
    """``text`` with each unstorable code point replaced by U+FFFD (for error messages that
    quote bad input: they must be storable themselves)."""
    return _UNSTORABLE.sub("\ufffd", text)


def describe(char: str) -> str:
    """``U+0000 (NUL)`` / ``U+D800 (an unpaired surrogate)``."""
    code = ord(char)
    what = "NUL" if code == 0 else "an unpaired surrogate"
    return f"U+{code:04X} ({what})"


def first_unstorable(value: Any) -> tuple[str | None, str] | None:
    """Where in a decoded JSON value the first unstorable code point is, and which one.

    The place is a dotted field path (``payload.subject``, ``payload.tags[2]``; ``None`` for the
    value itself); a bad character in an object's key is reported at that object's path.

    Fast path (every command pays it): orjson refuses lone surrogates and writes U+0000 as
    ``\\u0000``, so a value it serialises without that escape holds neither (~1 us instead of
    a walk over every string, ~13 us for a typical command).
    """
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return None
    except TypeError:  # a lone surrogate (or a value orjson does not take): walk it
        pass
    return _walk(value)


def _walk(value: Any) -> tuple[str | None, str] | None:
    stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            char = unstorable_char(item)
            if char is not None:
                return _dotted(path), char
        elif isinstance(item, Mapping):
            children = []
            for key, child in item.items():
                key_text = str(key)
                char = unstorable_char(key_text)
                if char is not None:
                    return _dotted(path), char
                children.append(((*path, key_text), child))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(
                ((*path, f"[{index}]"), child) for index, child in reversed(list(enumerate(item)))
            )
    return None


def _dotted(path: tuple[str, ...]) -> str | None:
    text = ""
    for part in path:
        text += part if part.startswith("[") or not text else f".{part}"
    return text or None
