"""Opening the sealed personal fields of a batch of logged events, for the read side.

One key lookup per batch (the live keys among the batch's key ids, asked every time: a key
destroyed by an erasure is never used again, whichever process erased it); each event's
``envelope`` becomes the opened one, and ``stored`` keeps the sealed one the log holds.

Personal fields in plaintext (events from before encryption, texts the domain writes itself)
of a case whose customer is erased read as their masks too: so a rebuild, which may meet them
after the ``SubjectErased`` of another partition, gives what the live projections gave by
masking them when it came (one more lookup, only for batches holding such fields).
"""

from __future__ import annotations

from collections.abc import Sequence

from supportes.privacy.keystore import KeyStore
from supportes.privacy.sealing import holds_plaintext, mask_plaintext, open_event, sealed_kids
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
        """Open (or mask) the personal fields of ``events`` in place."""
        kids = sealed_kids(event.stored for event in events)
        plain = {str(e.stored["aggregate_id"]) for e in events if holds_plaintext(e.stored)}
        if not kids and not plain:
            return
        keys = self._keys.keys_by_kid(kids) if kids else {}
        erased = self._keys.erased_cases(plain) if plain else set()
        for event in events:
            stored = event.stored
            envelope = mask_plaintext(stored) if stored["aggregate_id"] in erased else stored
            opened = open_event(envelope, keys) if kids else envelope
            if opened is not stored:
                event.envelope = opened
                event.payload = opened.get("payload") or {}
