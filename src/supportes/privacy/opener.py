"""Opening the sealed personal fields of a batch of logged events, for the read side.

One key lookup per batch (the live keys among the batch's key ids, asked every time: a key
destroyed by an erasure is never used again, whichever process erased it); each event's
``envelope`` becomes the opened one, and ``stored`` keeps the sealed one the log holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from supportes.privacy.keystore import KeyStore
from supportes.privacy.sealing import open_event, sealed_kids
from supportes.projections.base import LoggedEvent


class EventOpener:
    """Opens batches of :class:`LoggedEvent` with the keys of a :class:`KeyStore`."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def close(self) -> None:
        """Release the key store's connections (when it has any)."""
        close = getattr(self._keys, "close", None)
        if close is not None:
            close()

    def open(self, events: Sequence[LoggedEvent]) -> None:
        """Open (or mask) the sealed personal fields of ``events`` in place."""
        kids = sealed_kids(event.stored for event in events)
        if not kids:
            return
        keys = self._keys.keys_by_kid(kids)
        for event in events:
            opened = open_event(event.stored, keys)
            if opened is not event.stored:
                event.envelope = opened
                event.payload = opened.get("payload") or {}
