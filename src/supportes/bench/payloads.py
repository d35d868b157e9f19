"""Realistic message bodies of chosen sizes, shaped like the envelopes of design section 3 (pure).

Sizes are in bytes of compact UTF-8 JSON; a free-text field is padded to reach the size exactly.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

COMMAND_SIZE = 450
EVENT_SIZE = 900
_VOCABULARY = """
account billing invoice export report login password reset email phone chat web order
delivery refund subscription plan upgrade downgrade error timeout crash slow page button
customer agent called again still broken after update yesterday today morning evening
cannot open save print sync upload download attach file folder settings profile mobile
desktop browser version release patch workaround fixed resolved escalated manager team
urgent priority waiting response reply ticket reference case number missing wrong twice
charged duplicate payment card bank transfer address shipping tracking label warehouse
return exchange warranty repair replacement device screen battery network wifi router
install uninstall license key activation expired renewal discount coupon price quote the
a an and or but not with without from to of in on at for by is was were has have please
thanks help need want tried again works does did will would could should
"""
_WORDS = _VOCABULARY.split()


class TextPool:
    """Pseudo-random words (seeded) cut to exact lengths: text with realistic entropy, so
    compression figures are not flattered by repeated filler."""

    def __init__(self, seed: int = 7, size: int = 1000, length: int = 600) -> None:
        rng = random.Random(seed)
        self._texts = [self._words(rng, length) for _ in range(size)]
        self._next = 0

    @staticmethod
    def _words(rng: random.Random, length: int) -> str:
        parts: list[str] = []
        total = 0
        while total < length:
            word = rng.choice(_WORDS)
            parts.append(word)
            total += len(word) + 1
        return " ".join(parts)[:length]

    def text(self, length: int) -> str:
        """The next pooled text cut to ``length`` characters (longer requests repeat texts)."""
        out = ""
        while len(out) < length:
            out += self._texts[self._next % len(self._texts)] + " "
            self._next += 1
        return out[:length]


_POOL = TextPool()


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the wire format writes them."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def pad_text(length: int) -> str:
    """Readable text of exactly ``length`` characters (from the shared :class:`TextPool`)."""
    return _POOL.text(length) if length > 0 else ""


def sized(build: Callable[[str], Any], size: int) -> bytes:
    """JSON of ``build(text)`` with ``text`` padded so that the result is ``size`` bytes.

    Raises ValueError when the envelope without any text is already larger than ``size``.
    """
    bare = len(dumps(build("")))
    if bare > size:
        raise ValueError(f"envelope is {bare} bytes without text, more than {size}")
    body = dumps(build(pad_text(size - bare)))
    if len(body) != size:  # pragma: no cover - ASCII filler, one byte per character
        raise AssertionError(f"sized JSON came out {len(body)} bytes, wanted {size}")
    return body


def command(aggregate_id: str, command_id: str | None = None, size: int = COMMAND_SIZE) -> bytes:
    """A ``RecordContact`` command envelope of ``size`` bytes."""
    cid = command_id or str(uuid.uuid4())
    return sized(
        lambda text: {
            "command_id": cid,
            "type": "RecordContact",
            "aggregate_id": aggregate_id,
            "expected_version": None,
            "issued_at": "2026-11-22T10:00:00Z",
            "actor": {"id": "customer:c-4711", "kind": "customer"},
            "payload": {"direction": "inbound", "channel": "email", "summary": text},
        },
        size,
    )


def _hex_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_dict(command: dict[str, Any], version: int, note: str) -> dict[str, Any]:
    """A ``ContactRecorded`` event envelope for ``command``.

    It carries the command's payload plus ``note`` (free text that sets the size); ``prev_hash``
    and ``hash`` are 64-hex SHA-256 digests, but not the real chain (not needed for sizes).
    """
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "type": "ContactRecorded",
        "schema_version": 1,
        "aggregate_type": "Case",
        "aggregate_id": command["aggregate_id"],
        "version": version,
        "occurred_at": command["issued_at"],
        "actor": command["actor"],
        "command_id": command["command_id"],
        "correlation_id": command["command_id"],
        "payload": {**command["payload"], "note": note},
        "prev_hash": _hex_digest(command["command_id"]),
        "hash": _hex_digest(event_id),
    }


def event(command_body: bytes, version: int = 2, size: int = EVENT_SIZE) -> bytes:
    """An event of ``size`` bytes answering the command ``command_body``."""
    parsed = json.loads(command_body)
    return sized(lambda text: event_dict(parsed, version, text), size)


def result_dict(command: dict[str, Any], version: int, event_id: str) -> dict[str, Any]:
    """An accepted result for ``command``: about 250 bytes with uuid ids."""
    return {
        "command_id": command["command_id"],
        "status": "accepted",
        "aggregate_id": command["aggregate_id"],
        "version": version,
        "events": [{"event_id": event_id, "type": "ContactRecorded", "version": version}],
        "error": None,
    }


class Transform:
    """The minimal work of a writer per command: parse it, build its event and result.

    The event's ``note`` is sized so that events are ``event_size`` bytes for commands of one
    size; its length is worked out on the first command (ids are fixed-length uuids) and reused,
    so each call costs one ``json.loads``, two ``json.dumps`` and two SHA-256 digests.
    """

    def __init__(self, event_size: int = EVENT_SIZE) -> None:
        self.event_size = event_size
        self._note_length: int | None = None

    def __call__(self, command_body: bytes, version: int = 2) -> tuple[bytes, bytes]:
        """``(event, result)`` bytes for one command envelope."""
        parsed = json.loads(command_body)
        if self._note_length is None:
            self._note_length = max(
                0, self.event_size - len(dumps(event_dict(parsed, version, "")))
            )
        event_body = event_dict(parsed, version, pad_text(self._note_length))
        result_body = result_dict(parsed, version, event_body["event_id"])
        return dumps(event_body), dumps(result_body)
