"""Field encryption for crypto-shredding (design section 9): one AES-256-GCM data key per data
subject, 96-bit synthetic nonces, and associated data binding each ciphertext to where it belongs.

Nonces are not drawn at random but derived (HMAC-SHA-256 under a key derived from the data key by
HKDF) from the associated data and the plaintext, as SIV constructions do (RFC 5297's idea on
GCM): two different fields never share a nonce (up to a 2^-96 collision, as for random ones), and
the same field of the same command sealed again gives the same bytes, so a command resent after a
timeout is the same command (its digest, hence its idempotency check, holds). The field context
holds the command id, so equal texts of different commands stay unlinkable.

A sealed field is ``{"$enc": "v1", "kid": ..., "nonce": ..., "ct": ...}`` (base64). Its
associated data is the field's :class:`FieldContext` (aggregate, command, field path, subject)
and the key id, so a ciphertext copied into another event, field or case, or relabelled with
another key id, fails to open (:class:`UnreadableFieldError`) instead of yielding wrong plaintext.
Data keys are stored wrapped by a key-encryption key (RFC 3394 AES key wrap). Primitives are
``cryptography``'s; nothing here is hand-rolled beyond the encoding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from supportes.aggregates.personal import SEALED_MARK, SEALED_VERSION, is_sealed

__all__ = [
    "FieldContext",
    "UnreadableFieldError",
    "is_sealed",
    "key_fingerprint",
    "new_data_key",
    "open_sealed",
    "opener_for",
    "seal",
    "sealed_kid",
    "unseal",
    "unwrap_key",
    "wrap_key",
]
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_LABEL = "supportes-field-v1"
_FINGERPRINT_LABEL = b"supportes-subject-key-fingerprint-v1\x00"
_NONCE_KEY_INFO = b"supportes-field-nonce-v1"
CIPHERS_KEPT = 4096
"""Data keys whose AES-GCM and nonce keys are kept ready per process."""


class UnreadableFieldError(Exception):
    """A sealed field that cannot be opened: malformed, another key, or moved elsewhere."""


@dataclass(frozen=True)
class FieldContext:
    """Where a personal field belongs; its bytes are the ciphertext's associated data."""

    aggregate_id: str
    command_id: str
    path: str
    """The field's path in the payload, e.g. ``payload.summary``."""
    subject: str
    """The data subject (the case's customer id)."""

    def associated_data(self, kid: str) -> bytes:
        """Canonical bytes of this context and the key id (a JSON array: unambiguous)."""
        return associated_data(kid, self.aggregate_id, self.command_id, self.path, self.subject)


def associated_data(kid: str, aggregate_id: str, command_id: str, path: str, subject: str) -> bytes:
    """The associated data of a field: a compact JSON array (UTF-8) of a label, the key id and
    the field's context (aggregate id, command id, path, subject)."""
    return orjson.dumps([_AAD_LABEL, kid, aggregate_id, command_id, path, subject])


def new_data_key() -> bytes:
    """A fresh AES-256 data key."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


class _KeyCipher:
    """One data key, ready: its AES-GCM and its nonce-derivation key."""

    __slots__ = ("aead", "nonce_key")

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)
        self.nonce_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_NONCE_KEY_INFO
        ).derive(key)

    def nonce(self, associated_data: bytes, plaintext: bytes) -> bytes:
        mac = hmac.HMAC(self.nonce_key, hashes.SHA256())
        mac.update(len(associated_data).to_bytes(8, "big"))
        mac.update(associated_data)
        mac.update(plaintext)
        return mac.finalize()[:NONCE_BYTES]


@lru_cache(maxsize=CIPHERS_KEPT)
def _cipher(key: bytes) -> _KeyCipher:
    return _KeyCipher(key)


def seal(key: bytes, kid: str, plaintext: str, context: FieldContext) -> dict[str, str]:
    """``plaintext`` encrypted under ``key`` (id ``kid``), bound to ``context``; the same
    arguments always give the same sealed field (a synthetic nonce: see the module's doc)."""
    cipher = _cipher(key)
    associated = context.associated_data(kid)
    data = plaintext.encode()
    nonce = cipher.nonce(associated, data)
    ciphertext = cipher.aead.encrypt(nonce, data, associated)
    return {
        SEALED_MARK: SEALED_VERSION,
        "kid": kid,
        "nonce": _b64(nonce),
        "ct": _b64(ciphertext),
    }


def sealed_kid(sealed: Mapping[str, Any]) -> str:
    """The key id a sealed field names (UnreadableFieldError when it has none)."""
    kid = sealed.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UnreadableFieldError("sealed field without a key id")
    return kid


def unseal(key: bytes, sealed: Mapping[str, Any], context: FieldContext) -> str:
    """The plaintext of ``sealed`` under ``key`` in ``context`` (UnreadableFieldError otherwise)."""
    if not is_sealed(sealed):
        raise UnreadableFieldError("not a sealed field")
    return unseal_at(
        key,
        sealed,
        aggregate_id=context.aggregate_id,
        command_id=context.command_id,
        path=context.path,
        subject=context.subject,
    )


def unseal_at(
    key: bytes,
    sealed: Mapping[str, Any],
    *,
    aggregate_id: str,
    command_id: str,
    path: str,
    subject: str,
) -> str:
    """:func:`unseal` with the context's parts given one by one (no context object per field)."""
    kid = sealed_kid(sealed)
    return open_sealed(opener_for(key), kid, sealed, aggregate_id, command_id, path, subject)


def opener_for(key: bytes) -> AESGCM:
    """The ready AES-GCM of a data key (kept per process: see :data:`CIPHERS_KEPT`), for
    :func:`open_sealed`."""
    return _cipher(key).aead


def open_sealed(  # noqa: PLR0917 - positional: one call per field on the read path
    aead: AESGCM,
    kid: str,
    sealed: Mapping[str, Any],
    aggregate_id: object,
    command_id: object,
    path: str,
    subject: str,
) -> str:
    """The plaintext of ``sealed`` (whose key id is ``kid``) under ``aead`` (from
    :func:`opener_for`) in the given context, or UnreadableFieldError: the read side's hot path,
    one call per field."""
    try:
        nonce = binascii.a2b_base64(sealed["nonce"], strict_mode=True)
        ciphertext = binascii.a2b_base64(sealed["ct"], strict_mode=True)
    except (KeyError, TypeError, ValueError):  # binascii.Error is a ValueError
        raise UnreadableFieldError("sealed field with malformed base64") from None
    if len(nonce) != NONCE_BYTES:
        raise UnreadableFieldError("sealed field with a nonce of the wrong size")
    try:  # ids that are not strings (a forged event) give other bytes: it does not open
        associated = orjson.dumps([_AAD_LABEL, kid, aggregate_id, command_id, path, subject])
        plain = aead.decrypt(nonce, ciphertext, associated)
    except (InvalidTag, orjson.JSONEncodeError):
        raise UnreadableFieldError(
            "sealed field does not open here (another key, or moved from elsewhere)"
        ) from None
    try:
        return plain.decode()
    except UnicodeDecodeError:
        raise UnreadableFieldError("sealed field whose plaintext is not UTF-8") from None


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """``key`` wrapped by the key-encryption key (RFC 3394)."""
    return aes_key_wrap(kek, key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """The data key ``wrapped`` holds (UnreadableFieldError when ``kek`` is not the one)."""
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        raise UnreadableFieldError("a wrapped data key does not open under this KEK") from None


def key_fingerprint(key: bytes) -> str:
    """A one-way fingerprint of a data key: kept after erasure, so that a key restored from an
    old backup is recognised (and destroyed again) without keeping the key."""
    return hashlib.sha256(_FINGERPRINT_LABEL + key).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
