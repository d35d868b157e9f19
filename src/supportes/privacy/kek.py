"""The key-encryption key (KEK) that wraps every data subject's key (design section 9).

:class:`KeyWrapper` is what the key store needs: wrap and unwrap a data key, and a ``kek_id``
recorded with each wrapped key. :class:`FileKeyWrapper` keeps the KEK in a local file
(``SUPPORTES_KEK_FILE``, default ``<home>/secrets/kek``); a KMS or Vault transit adapter
(wrap/unwrap by the service, the KEK never in this process) implements the same protocol.

The KEK file holds the 32 random bytes of an AES-256 key, base64-encoded (44 characters and a
newline). It must be a regular file that neither group nor others may access (mode 0600 or
0400). The KEK is never logged nor printed; ``kek_id`` is a short one-way fingerprint of it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from supportes.errors import ConfigError
from supportes.privacy.cipher import UnreadableFieldError, unwrap_key, wrap_key
from supportes.settings import Settings

KEK_BYTES = 32
KEK_SETTING = "SUPPORTES_KEK_FILE"
_MAX_FILE_BYTES = 1024
_KEK_ID_LABEL = b"supportes-kek-id-v1\x00"


class KeyUnwrapError(ConfigError):
    """A wrapped data key does not open under this process's KEK (the wrong KEK is configured,
    or the wrapped key is damaged)."""


class KeyWrapper(Protocol):
    """Wraps data keys under a key-encryption key (a local file, a KMS, Vault transit)."""

    @property
    def kek_id(self) -> str:
        """Which KEK this is (never the KEK itself): stored with every wrapped key."""
        ...

    def wrap(self, data_key: bytes) -> bytes:
        """``data_key`` wrapped under the KEK."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key ``wrapped`` holds; :class:`KeyUnwrapError` when it does not open."""
        ...


def kek_fingerprint(kek: bytes) -> str:
    """A short one-way id of a KEK (``kek-`` and 16 hex digits of a labelled SHA-256)."""
    return "kek-" + hashlib.sha256(_KEK_ID_LABEL + kek).hexdigest()[:16]


class FileKeyWrapper:
    """A KEK read from a file (RFC 3394 AES key wrap); refuses a file others may access."""

    __slots__ = ("_kek", "_kek_id", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kek = read_kek_file(path)
        self._kek_id = kek_fingerprint(self._kek)

    @classmethod
    def from_settings(cls, settings: Settings) -> FileKeyWrapper:
        """The KEK of :attr:`Settings.kek_path`."""
        return cls(settings.kek_path)

    @property
    def kek_id(self) -> str:
        """Short fingerprint of the KEK."""
        return self._kek_id

    def wrap(self, data_key: bytes) -> bytes:
        """``data_key`` wrapped (RFC 3394)."""
        return wrap_key(self._kek, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key ``wrapped`` holds; :class:`KeyUnwrapError` naming the file otherwise."""
        try:
            return unwrap_key(self._kek, wrapped)
        except (UnreadableFieldError, ValueError):
            raise KeyUnwrapError(
                f"a wrapped data key does not open under the key-encryption key {self._kek_id} "
                f"read from {self.path} ({KEK_SETTING}): is it the KEK that wrapped the keys?"
            ) from None

    def __repr__(self) -> str:
        return f"FileKeyWrapper(path={str(self.path)!r}, kek_id={self._kek_id!r})"


def read_kek_file(path: Path) -> bytes:
    """The KEK in ``path``; ConfigError naming the file and the rule it breaks."""
    where = f"key-encryption key file {path} ({KEK_SETTING})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO cannot hang us
    except FileNotFoundError:
        raise ConfigError(
            f"{where} does not exist; `supportes stack up` creates the local one"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{where} is not a regular file")
        if mode & 0o077:
            raise ConfigError(
                f"{where} may be accessed by group or others (mode {stat.S_IMODE(mode):04o}); "
                f"it must be private to its owner: chmod 600 {path}"
            )
        text = os.read(fd, _MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(text) > _MAX_FILE_BYTES or len(kek) != KEK_BYTES:
        raise ConfigError(f"{where} must hold {KEK_BYTES} bytes, base64-encoded (44 characters)")
    return kek


def create_kek_file(path: Path) -> bool:
    """Create ``path`` with a new random KEK (mode 0600) unless it exists; True when created.

    Atomic: a complete file appears under the name or nothing does, and processes racing to
    create it all end up with the first one's KEK. A missing parent is made with mode 0700.
    """
    if os.path.lexists(path):
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    created = False
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEK_BYTES)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it first
            os.link(partial, path)
            created = True
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return created
