"""The front door's memory of subject keys (:class:`CachedKeyStore`): a :class:`KeyStore` that
keeps each subject's key for a short time, so sealing a command does not ask PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from supportes.privacy.keystore import ErasureStatus, KeyStore, SubjectKey


class CachedKeyStore:
    """A :class:`KeyStore` remembering the front door's keys in this process; thread-safe.

    ``key_for`` answers are kept ``ttl_s`` per subject (an erasure elsewhere is seen within
    it), at most ``max_entries``, least recently used first out. Everything else asks the
    store: the read side's ``keys_by_kid`` above all (which asks for the key generation every
    time), so a key destroyed by an erasure in any process is never used to open anything
    again. Misses, erased subjects and errors are never remembered.
    """

    def __init__(
        self,
        store: KeyStore,
        ttl_s: float = 1.0,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.store = store
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._by_subject: OrderedDict[str, tuple[SubjectKey, float]] = OrderedDict()
        self._epoch = 0  # bumped by forget: answers fetched across it are not remembered

    def key_for(self, subject: str) -> SubjectKey:
        """The subject's key, from memory when fetched less than ``ttl_s`` ago."""
        now = self._clock()
        with self._lock:
            hit = self._by_subject.get(subject)
            if hit is not None and hit[1] > now:
                self._by_subject.move_to_end(subject)
                return hit[0]
            epoch = self._epoch
        key = self.store.key_for(subject)
        with self._lock:
            if epoch == self._epoch:
                _put(self._by_subject, subject, (key, now + self._ttl_s), self._max)
        return key

    def keys_by_kid(self, kids: Iterable[str]) -> dict[str, SubjectKey]:
        """The live keys among ``kids``, from the store (never from memory)."""
        return self.store.keys_by_kid(kids)

    def forget(self, subject: str) -> None:
        """Drop ``subject``'s key from memory (it was erased)."""
        with self._lock:
            self._epoch += 1
            self._by_subject.pop(subject, None)

    def erased(self, subjects: Iterable[str]) -> set[str]:
        """Which of ``subjects`` are erased (never from memory)."""
        return self.store.erased(subjects)

    def erased_cases(self, case_ids: Iterable[str]) -> set[str]:
        """Which of ``case_ids`` belong to an erased subject (never from memory)."""
        return self.store.erased_cases(case_ids)

    def erase(self, subject: str, reason: str) -> bool:
        """Erase through the store, then forget the subject's key."""
        try:
            return self.store.erase(subject, reason)
        finally:
            self.forget(subject)

    def status(self, subject: str) -> ErasureStatus:
        """The store's answer."""
        return self.store.status(subject)

    def reconcile(self) -> list[str]:
        """Reconcile through the store, then forget the keys it destroyed."""
        destroyed = self.store.reconcile()
        with self._lock:
            self._epoch += 1
            gone = set(destroyed)
            for subject in [s for s, (key, _) in self._by_subject.items() if key.kid in gone]:
                del self._by_subject[subject]
        return destroyed


def _put(cache: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)
