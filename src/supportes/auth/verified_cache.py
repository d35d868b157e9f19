"""Bearer tokens verified a moment ago, remembered so a request need not verify them again.

A token is found by the SHA-256 of its whole text, so only the very same bearer string hits.
An entry lives at most ``ttl_s`` seconds and never past the token's own expiry.

API tokens can be revoked, so they are remembered only while a listener thread holds
``LISTEN supportes_api_tokens`` on PostgreSQL: migration 0009's trigger announces every change
to a token row (revocation, a hand edit, a delete) with its token id, and the listener forgets
that token at once. While the listener is not connected nothing of an API token is remembered
(and everything remembered is forgotten when it loses its connection), so a revocation can
never be missed, only delayed by the notification's own travel time. A verification that
started before a notification arrived is not remembered (the ``epoch`` check), so a lookup
racing a revocation cannot put the revoked token back.

OIDC access tokens cannot be revoked (their issuer's answer to that is short lifetimes): they
are remembered until ``ttl_s`` or their ``exp``, whichever comes first.
"""

from __future__ import annotations

import hashlib
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
import psycopg2.extensions

from supportes.auth.principal import Principal
from supportes.logs import get_logger

log = get_logger("auth.cache")

CHANNEL = "supportes_api_tokens"
"""The PostgreSQL notification channel of API token changes (migration 0009)."""
MAX_ENTRIES = 10_000
"""More verified tokens than this and the cache starts afresh (a bound on memory)."""
PING_EVERY_S = 5.0
"""How often the listener checks that its connection is alive when no notification comes."""

Connect = Callable[[], psycopg2.extensions.connection]


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime | None
    stored_at: float
    token_id: str | None  # API tokens only: what a notification names


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class VerifiedTokenCache:
    """Verified tokens for ``ttl_s`` seconds; thread-safe. :meth:`start` the listener for API
    tokens to be remembered at all."""

    def __init__(
        self,
        ttl_s: float,
        listen_connect: Connect | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ttl_s = ttl_s
        self._listen_connect = listen_connect
        self._clock = clock
        self._now = now
        self._entries: dict[bytes, _Entry] = {}
        self._by_token_id: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._epoch = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heard = 0
        """Notifications received (for tests and diagnostics)."""

    # -- lookups ---------------------------------------------------------------------------

    def get(self, token: str) -> Principal | None:
        """The principal of ``token`` when it was verified recently and is still good."""
        if self.ttl_s <= 0:
            return None
        key = _key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.token_id is not None and not self._listening:
                return None
            if self._clock() - entry.stored_at >= self.ttl_s or (
                entry.expires_at is not None and entry.expires_at <= self._now()
            ):
                self._forget(key)
                return None
            return entry.principal

    def epoch(self) -> int:
        """Take before verifying an API token, give to :meth:`put_api_token` after."""
        with self._lock:
            return self._epoch

    def put_api_token(
        self,
        token: str,
        token_id: str,
        principal: Principal,
        expires_at: datetime | None,
        epoch: int,
    ) -> bool:
        """Remember an API token verified since ``epoch``; False when that cannot be trusted
        (not listening, or a token changed meanwhile)."""
        with self._lock:
            if self.ttl_s <= 0 or not self._listening or epoch != self._epoch:
                return False
            self._store(_key(token), _Entry(principal, expires_at, self._clock(), token_id))
            self._by_token_id[token_id] = _key(token)
            return True

    def put_oidc(self, token: str, principal: Principal, expires_at: datetime) -> None:
        """Remember a verified OIDC access token until ``expires_at`` (at most ``ttl_s``)."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._store(_key(token), _Entry(principal, expires_at, self._clock(), None))

    def forget(self, token_id: str) -> None:
        """Forget API token ``token_id`` (a notification said it changed)."""
        with self._lock:
            self._epoch += 1
            key = self._by_token_id.pop(token_id, None)
            if key is not None:
                self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._by_token_id.clear()

    @property
    def listening(self) -> bool:
        """True while API token changes are being heard."""
        with self._lock:
            return self._listening

    def _store(self, key: bytes, entry: _Entry) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._by_token_id.clear()
        self._entries[key] = entry

    def _forget(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.token_id is not None:
            self._by_token_id.pop(entry.token_id, None)

    # -- the listener ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the listener thread (no-op without a ``listen_connect`` or with ``ttl_s`` 0)."""
        if self._listen_connect is None or self.ttl_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._listen_forever, name="supportes-token-listener", daemon=True
        )
        self._thread.start()

    def wait_listening(self, timeout_s: float) -> bool:
        """True once the listener is connected (False after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.listening:
                return True
            time.sleep(0.01)
        return self.listening

    def close(self) -> None:
        """Stop the listener and forget everything."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=PING_EVERY_S + 2)
            self._thread = None
        self._set_listening(False)

    def _set_listening(self, listening: bool) -> None:
        with self._lock:
            self._listening = listening
            self._epoch += 1
            self._entries.clear()
            self._by_token_id.clear()

    def _listen_forever(self) -> None:
        assert self._listen_connect is not None
        backoff_s = 0.5
        while not self._stop.is_set():
            conn: psycopg2.extensions.connection | None = None
            try:
                conn = self._listen_connect()
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self._set_listening(True)
                log.info("listening for API token changes", channel=CHANNEL)
                backoff_s = 0.5
                self._hear(conn)
            except Exception as exc:  # any failure: stop trusting the cache, retry
                if self.listening:
                    log.warning("API token listener lost its connection", error=type(exc).__name__)
            finally:
                self._set_listening(False)
                if conn is not None and not conn.closed:
                    conn.close()
            self._stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)

    def _hear(self, conn: psycopg2.extensions.connection) -> None:
        last_ping = time.monotonic()
        while not self._stop.is_set():
            readable, _, _ = select.select([conn], [], [], 0.5)
            if readable:
                conn.poll()
                while conn.notifies:
                    notice = conn.notifies.pop(0)
                    self.heard += 1
                    self.forget(notice.payload)
            elif time.monotonic() - last_ping >= PING_EVERY_S:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                last_ping = time.monotonic()
