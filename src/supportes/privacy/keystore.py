"""Subject keys (design section 9): one AES-256 data key per data subject, in PostgreSQL
``privacy.subject_keys`` (migration 0010), wrapped by the key-encryption key.

A key is made on first use (:meth:`KeyStore.key_for`). Erasing a subject records it in
``privacy.erased_subjects``, records each of its keys' fingerprint (``cipher.key_fingerprint`` of
the unwrapped data key) and kid in ``privacy.erased_keys`` (the fence), and deletes the keys:
whatever was sealed under them can no longer be read. A ``subject_keys`` row restored from an
old backup keeps its kid, so reads leave it out at once (fenced by kid, or by its subject being
erased); :meth:`KeyStore.reconcile` destroys it again, and also finds a destroyed key restored
under another kid, by the fingerprint of the unwrapped key. Erasure runs through
``privacy.erase_subject`` (migration 0012), so the API's role may erase without holding the
right to delete keys or write the fence. Every change that can kill a key moves
``privacy.key_generation`` (migration 0013, a trigger), so a reader keeps unwrapped keys in
memory and asks one number per batch. Keys and wrapped keys are never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from supportes.db.pool import Connect, ConnectionPool
from supportes.db.transactions import read_write
from supportes.privacy.cipher import KEY_BYTES, key_fingerprint, new_data_key
from supportes.privacy.kek import KeyUnwrapError, KeyWrapper

MAX_SUBJECT = 200
MAX_REASON = 500
ERASE_ATTEMPTS = 3
"""Tries of an erasure whose keys changed between reading and erasing (SQLSTATE 40001)."""
UNWRAPPED_KEPT = 4096
"""Unwrapped data keys a :class:`PgKeyStore` keeps in memory for :meth:`PgKeyStore.keys_by_kid`
(all dropped as soon as ``privacy.key_generation`` changes: a key may have died)."""
_LOCK_CLASS = 0x5052_5659  # "PRVY": advisory locks of key creation and erasure, per subject

Cursor = psycopg2.extensions.cursor


@dataclass(frozen=True)
class SubjectKey:
    """A data subject's unwrapped data key (its ``repr`` leaves the key out)."""

    kid: str
    """Canonical UUID text; sealed fields name it."""
    subject: str
    """The data subject (the customer id)."""
    key: bytes = field(repr=False)
    """The 32-byte AES-256 data key."""


class SubjectErasedError(Exception):
    """The data subject was erased: no key is made or handed out for it."""

    def __init__(self, subject: str) -> None:
        super().__init__("the data subject was erased; its personal data is no longer kept")
        self.subject = subject


@dataclass(frozen=True)
class ErasureStatus:
    """Where a subject's erasure stands."""

    subject: str
    erased_at: datetime | None
    live_keys: int
    fenced_keys: int

    @property
    def complete(self) -> bool:
        """Erased, and no key of the subject is left (nothing of it can be read)."""
        return self.erased_at is not None and self.live_keys == 0


class KeyStore(Protocol):
    """Where subjects' data keys live."""

    def key_for(self, subject: str) -> SubjectKey:
        """The subject's key, made on first use; SubjectErasedError for an erased subject."""
        ...

    def keys_by_kid(self, kids: Iterable[str]) -> dict[str, SubjectKey]:
        """The live keys among ``kids``; absent, fenced or erased ones are left out."""
        ...

    def erased(self, subjects: Iterable[str]) -> set[str]:
        """Which of ``subjects`` are erased."""
        ...

    def erased_cases(self, case_ids: Iterable[str]) -> set[str]:
        """Which of these cases belong to an erased subject (by ``privacy.case_subjects``)."""
        ...

    def erase(self, subject: str, reason: str) -> bool:
        """Erase the subject (destroy its keys); False when it was erased already."""
        ...

    def status(self, subject: str) -> ErasureStatus:
        """Where the subject's erasure stands."""
        ...

    def reconcile(self) -> list[str]:
        """Destroy keys that must not exist (restored from a backup); their kids, sorted."""
        ...


_KEY_OF_SUBJECT = """
SELECT k.kid::text, k.wrapped, k.kek_id,
       EXISTS (SELECT 1 FROM privacy.erased_subjects AS e WHERE e.subject = s.subject)
       OR EXISTS (SELECT 1 FROM privacy.erased_keys AS f WHERE f.kid = k.kid)
FROM (SELECT %s::text AS subject) AS s
LEFT JOIN privacy.subject_keys AS k ON k.subject = s.subject
"""
_CREATE_KEY = """
INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id)
SELECT %s::uuid, %s, %s, %s
WHERE NOT EXISTS (SELECT 1 FROM privacy.erased_subjects WHERE subject = %s)
ON CONFLICT (subject) DO NOTHING
"""
_LIVE_KEYS_BY_KID = """
SELECT k.kid::text, k.subject, k.wrapped, k.kek_id
FROM privacy.subject_keys AS k
WHERE k.kid = ANY(%s::uuid[])
  AND NOT EXISTS (SELECT 1 FROM privacy.erased_keys AS f WHERE f.kid = k.kid)
  AND NOT EXISTS (SELECT 1 FROM privacy.erased_subjects AS e WHERE e.subject = k.subject)
"""
_STATUS = """
SELECT (SELECT erased_at FROM privacy.erased_subjects WHERE subject = %(s)s),
       (SELECT count(*) FROM privacy.subject_keys WHERE subject = %(s)s),
       (SELECT count(*) FROM privacy.erased_keys WHERE subject = %(s)s)
"""
_EVERY_KEY = """
SELECT k.kid::text, k.subject, k.wrapped, k.kek_id,
       EXISTS (SELECT 1 FROM privacy.erased_subjects AS e WHERE e.subject = k.subject)
       OR EXISTS (SELECT 1 FROM privacy.erased_keys AS f WHERE f.kid = k.kid)
FROM privacy.subject_keys AS k
"""


class PgKeyStore:
    """:class:`KeyStore` in PostgreSQL; thread-safe.

    ``connections``: a :class:`~supportes.db.pool.ConnectionPool` to share (a read-only one
    will do: writes run in ``BEGIN READ WRITE``), or a DSN or a connect function for a pool of
    its own (``size`` connections). Key creation and erasure of one subject are serialised by a
    transaction-scoped advisory lock, so a key is never made beside a running erasure.
    The component roles may read and create keys; the API's may also erase, through
    ``privacy.erase_subject`` only; reconciling is the owner's.
    """

    def __init__(
        self,
        connections: ConnectionPool | Connect | str,
        wrapper: KeyWrapper,
        *,
        size: int = 4,
        setting: str = "SUPPORTES_PG_DSN",
    ) -> None:
        self.wrapper = wrapper
        self._memo: OrderedDict[str, tuple[tuple[bytes, str, str], SubjectKey]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._generation: int | None = None
        self._owns_pool = not isinstance(connections, ConnectionPool)
        if isinstance(connections, ConnectionPool):
            self.pool = connections
        elif isinstance(connections, str):
            self.pool = ConnectionPool(connections, size, readonly=False, setting=setting)
        else:
            self.pool = ConnectionPool("", size, readonly=False, connect_with=connections)

    def close(self) -> None:
        """Close the pool when it is this store's own."""
        if self._owns_pool:
            self.pool.close()

    def key_for(self, subject: str) -> SubjectKey:
        """The subject's key; made (and stored wrapped) on first use, once even when several
        processes ask at the same time. SubjectErasedError for an erased subject."""
        _check_subject(subject)
        with self._read() as cur:
            cur.execute(_KEY_OF_SUBJECT, (subject,))
            kid, wrapped, kek_id, erased = _one(cur)
        if erased:
            raise SubjectErasedError(subject)
        if kid is not None:
            return self._unwrapped(kid, subject, wrapped, kek_id)
        return self._create(subject)

    def _create(self, subject: str) -> SubjectKey:
        data_key = new_data_key()
        new_kid = str(uuid.uuid4())
        with self._write() as cur:
            _lock(cur, subject)
            cur.execute(
                _CREATE_KEY,
                (new_kid, subject, self.wrapper.wrap(data_key), self.wrapper.kek_id, subject),
            )
            cur.execute(_KEY_OF_SUBJECT, (subject,))
            kid, wrapped, kek_id, erased = _one(cur)
        if erased:
            raise SubjectErasedError(subject)
        if kid is None:  # deleted at once by a reconcile (a fenced key restored under it)
            raise RuntimeError("a subject's key vanished while it was made; try again")
        if kid == new_kid:
            return SubjectKey(kid, subject, data_key)
        return self._unwrapped(kid, subject, wrapped, kek_id)  # another process made it

    def keys_by_kid(self, kids: Iterable[str]) -> dict[str, SubjectKey]:
        """The live keys among ``kids``, by kid. A kid that is absent, not a canonical UUID,
        fenced, or whose subject is erased is left out: the caller masks. One query for the key
        generation (migration 0013): unchanged, the keys kept in memory are live still, and
        only the others are asked for; changed, every key kept is dropped first."""
        wanted = sorted({kid for kid in kids if _is_canonical_uuid(kid)})
        if not wanted:
            return {}
        with self._read() as cur:
            cur.execute("SELECT generation FROM privacy.key_generation")
            (generation,) = _one(cur)
            live: dict[str, SubjectKey] = {}
            with self._memo_lock:
                if generation != self._generation:
                    self._memo.clear()
                    self._generation = generation
                for kid in wanted:
                    kept = self._memo.get(kid)
                    if kept is not None:
                        self._memo.move_to_end(kid)
                        live[kid] = kept[1]
            unknown = [kid for kid in wanted if kid not in live]
            if unknown:
                cur.execute(_LIVE_KEYS_BY_KID, (unknown,))
                for kid, subject, wrapped, kek in cur.fetchall():
                    live[kid] = self._remembered(kid, subject, wrapped, kek)
        return live

    def erased(self, subjects: Iterable[str]) -> set[str]:
        """Which of ``subjects`` are erased (one query)."""
        wanted = sorted({s for s in subjects if isinstance(s, str)})
        if not wanted:
            return set()
        with self._read() as cur:
            cur.execute(
                "SELECT subject FROM privacy.erased_subjects WHERE subject = ANY(%s::text[])",
                (wanted,),
            )
            return {subject for (subject,) in cur.fetchall()}

    def erased_cases(self, case_ids: Iterable[str]) -> set[str]:
        """Which of ``case_ids`` (canonical UUID text) belong to an erased subject (one query)."""
        wanted = sorted({c for c in case_ids if _is_canonical_uuid(c)})
        if not wanted:
            return set()
        with self._read() as cur:
            cur.execute(
                "SELECT c.case_id::text FROM privacy.case_subjects c"
                " JOIN privacy.erased_subjects e USING (subject)"
                " WHERE c.case_id = ANY(%s::uuid[])",
                (wanted,),
            )
            return {case_id for (case_id,) in cur.fetchall()}

    def erase(self, subject: str, reason: str) -> bool:
        """In one transaction: record the subject as erased (``reason`` must hold no personal
        data), fence and delete each of its keys. True when this call erased the subject; False
        when it was erased already (any key that reappeared is destroyed all the same). Through
        ``privacy.erase_subject`` (migration 0012), which the owner and the API's role may call:
        the fingerprints are computed here, where the KEK is."""
        _check_subject(subject)
        reason = _check_reason(reason)
        for attempt in range(ERASE_ATTEMPTS):
            try:
                with self._write() as cur:
                    _lock(cur, subject)  # as key creation: the keys read are the keys erased
                    cur.execute(
                        "SELECT kid::text, subject, wrapped, kek_id FROM privacy.subject_keys"
                        " WHERE subject = %s",
                        (subject,),
                    )
                    keys = [self._unwrapped(*row) for row in cur.fetchall()]
                    fences = [{"kid": k.kid, "fingerprint": key_fingerprint(k.key)} for k in keys]
                    cur.execute(
                        "SELECT privacy.erase_subject(%s, %s, %s::jsonb)",
                        (subject, reason, json.dumps(fences)),
                    )
                    (erased_now,) = _one(cur)
                break
            except psycopg2.errors.SerializationFailure:
                if attempt + 1 == ERASE_ATTEMPTS:
                    raise
        self._forget(k.kid for k in keys)
        return bool(erased_now)

    def status(self, subject: str) -> ErasureStatus:
        """When the subject was erased (None: not erased), and its live and fenced keys."""
        _check_subject(subject)
        with self._read() as cur:
            cur.execute(_STATUS, {"s": subject})
            erased_at, live, fenced = _one(cur)
        return ErasureStatus(subject, erased_at, int(live), int(fenced))

    def reconcile(self) -> list[str]:
        """Destroy every live key that must not exist: fenced by its kid, of an erased subject,
        or whose unwrapped key's fingerprint is fenced (a destroyed key restored under another
        kid); return their kids, sorted. Reads (and unwraps) every key: an operator's command."""
        with self._read() as cur:
            cur.execute("SELECT fingerprint FROM privacy.erased_keys")
            fenced = {fingerprint for (fingerprint,) in cur.fetchall()}
            cur.execute(_EVERY_KEY)
            rows = cur.fetchall()
        doomed = []
        for kid, subject, wrapped, kek_id, erased in rows:
            key = self._unwrapped(kid, subject, wrapped, kek_id)
            if erased or key_fingerprint(key.key) in fenced:
                doomed.append(key)
        if not doomed:
            return []
        with self._write() as cur:
            destroyed = self._destroy(cur, doomed)
        self._forget(destroyed)
        return destroyed

    def _forget(self, kids: Iterable[str]) -> None:
        with self._memo_lock:
            for kid in kids:
                self._memo.pop(kid, None)

    @staticmethod
    def _destroy(cur: Cursor, keys: Sequence[SubjectKey]) -> list[str]:
        """Fence ``keys`` (fingerprint, kid) and delete them; the kids deleted, sorted."""
        if not keys:
            return []
        cur.executemany(
            "INSERT INTO privacy.erased_keys (fingerprint, kid, subject) VALUES (%s, %s::uuid, %s)"
            " ON CONFLICT DO NOTHING",
            [(key_fingerprint(k.key), k.kid, k.subject) for k in keys],
        )
        cur.execute(
            "DELETE FROM privacy.subject_keys WHERE kid = ANY(%s::uuid[]) RETURNING kid::text",
            ([k.kid for k in keys],),
        )
        return sorted(kid for (kid,) in cur.fetchall())

    def _remembered(self, kid: str, subject: str, wrapped: Any, kek_id: str) -> SubjectKey:
        """:meth:`_unwrapped`, from memory when the same row was unwrapped before (an unwrap
        costs more than the rest of a field's opening; all are dropped when the key generation
        moves). At most :data:`UNWRAPPED_KEPT` keys are kept."""
        row = (bytes(wrapped), subject, kek_id)
        with self._memo_lock:
            kept = self._memo.get(kid)
            if kept is not None and kept[0] == row:
                self._memo.move_to_end(kid)
                return kept[1]
        key = self._unwrapped(kid, subject, wrapped, kek_id)
        with self._memo_lock:
            self._memo[kid] = (row, key)
            if len(self._memo) > UNWRAPPED_KEPT:
                self._memo.popitem(last=False)
        return key

    def _unwrapped(self, kid: str, subject: str, wrapped: Any, kek_id: str) -> SubjectKey:
        try:
            key = self.wrapper.unwrap(bytes(wrapped))
        except KeyUnwrapError as exc:
            raise KeyUnwrapError(
                f"data key {kid}, wrapped by KEK {kek_id}, does not unwrap under this process's "
                f"KEK {self.wrapper.kek_id}: {exc}"
            ) from None
        if len(key) != KEY_BYTES:
            raise KeyUnwrapError(f"data key {kid} unwraps to {len(key)} bytes, not {KEY_BYTES}")
        return SubjectKey(kid, subject, key)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self.pool.connection() as conn, conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _write(self) -> Iterator[Cursor]:
        """A cursor in a read-write transaction, committed on success (the pool's sessions are
        in autocommit mode; ``BEGIN READ WRITE`` overrides a read-only default)."""
        with self.pool.connection() as conn, read_write(conn) as cur:
            yield cur


def _one(cur: Cursor) -> tuple[Any, ...]:
    row = cur.fetchone()
    if row is None:  # every query used with it returns exactly one row
        raise RuntimeError("expected one row")
    return tuple(row)


def _lock(cur: Cursor, subject: str) -> None:
    """Serialise key creation and erasure of ``subject`` until the transaction ends."""
    digest = hashlib.sha256(subject.encode()).digest()
    cur.execute(
        "SELECT pg_advisory_xact_lock(%s, %s)",
        (_LOCK_CLASS, int.from_bytes(digest[:4], "big", signed=True)),
    )


def _is_canonical_uuid(kid: object) -> bool:
    if not isinstance(kid, str):
        return False
    try:
        return str(uuid.UUID(kid)) == kid
    except ValueError:
        return False


def _check_subject(subject: str) -> None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        raise ValueError(f"subject must be a non-blank customer id of at most {MAX_SUBJECT} chars")


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("reason must not be empty or only whitespace")
    if len(reason.strip()) > MAX_REASON:
        raise ValueError(f"reason must be at most {MAX_REASON} characters")
    return reason.strip()
