"""Building the privacy services from settings: the key store on the component's PostgreSQL
role with the KEK of ``SUPPORTES_KEK_FILE``, the command sealer of the front doors and the
event opener of the read side."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from supportes.db.pool import ConnectionPool
from supportes.privacy.case_subjects import PgCaseSubjects
from supportes.privacy.edge import CommandSealer
from supportes.privacy.kek import FileKeyWrapper
from supportes.privacy.key_cache import CachedKeyStore
from supportes.privacy.keystore import (
    ErasureStatus,
    KeyStore,
    PgKeyStore,
    SubjectKey,
)
from supportes.privacy.opener import EventOpener
from supportes.settings import PgComponent, Settings

SEALER_CONNECTIONS = 4
KEY_TTL_S = 1.0
"""How long a front door keeps a subject's key: an erasure made elsewhere is seen within it."""


def _pool(settings: Settings, component: PgComponent, size: int) -> ConnectionPool:
    return ConnectionPool(
        settings.dsn_for(component),
        size,
        readonly=False,
        connect_timeout_s=settings.connect_timeout_s,
        setting=settings.dsn_source(component),
    )


def key_store(settings: Settings, component: PgComponent, size: int = 2) -> PgKeyStore:
    """The key store as ``component`` reaches it (ConfigError when the KEK file is unusable)."""
    return PgKeyStore(
        settings.dsn_for(component),
        FileKeyWrapper.from_settings(settings),
        size=size,
        setting=settings.dsn_source(component),
    )


def command_sealer(settings: Settings, component: PgComponent = PgComponent.API) -> CommandSealer:
    """The sealer of a front door (the API, ``SupportesClient``)."""
    pool = _pool(settings, component, SEALER_CONNECTIONS)
    keys = CachedKeyStore(PgKeyStore(pool, FileKeyWrapper.from_settings(settings)), KEY_TTL_S)
    return CommandSealer(keys, PgCaseSubjects(pool), close=pool.close)


class LazyKeyStore:
    """A :class:`KeyStore` made on first use: a reader of an old, plaintext log needs no KEK."""

    def __init__(self, settings: Settings, component: PgComponent) -> None:
        self._settings = settings
        self._component = component
        self._store: PgKeyStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> KeyStore:
        """The key store (made now if it was not)."""
        with self._lock:
            if self._store is None:
                self._store = key_store(self._settings, self._component)
            return self._store

    def key_for(self, subject: str) -> SubjectKey:
        """See :meth:`KeyStore.key_for`."""
        return self.store.key_for(subject)

    def keys_by_kid(self, kids: Iterable[str]) -> dict[str, SubjectKey]:
        """See :meth:`KeyStore.keys_by_kid`."""
        return self.store.keys_by_kid(kids)

    def erased(self, subjects: Iterable[str]) -> set[str]:
        """See :meth:`KeyStore.erased`."""
        return self.store.erased(subjects)

    def erased_cases(self, case_ids: Iterable[str]) -> set[str]:
        """See :meth:`KeyStore.erased_cases`."""
        return self.store.erased_cases(case_ids)

    def erase(self, subject: str, reason: str) -> bool:
        """See :meth:`KeyStore.erase`."""
        return self.store.erase(subject, reason)

    def status(self, subject: str) -> ErasureStatus:
        """See :meth:`KeyStore.status`."""
        return self.store.status(subject)

    def reconcile(self) -> list[str]:
        """See :meth:`KeyStore.reconcile`."""
        return self.store.reconcile()

    def close(self) -> None:
        """Close the store's connections, if it was made."""
        with self._lock:
            if self._store is not None:
                self._store.close()


def event_opener(settings: Settings, component: PgComponent = PgComponent.PROJECTOR) -> EventOpener:
    """The read side's opener (its key store is made at the first sealed field)."""
    return EventOpener(LazyKeyStore(settings, component))
