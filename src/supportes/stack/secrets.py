"""Generated secrets of the local stack: one file per secret under ``<home>/secrets`` (0600).

A secret is created once, atomically (a complete file appears under its name or nothing does;
two processes racing both end up with the first one's value), and never logged or printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets as random_secrets
from pathlib import Path

from supportes.errors import ConfigError
from supportes.settings import Settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SECRET_BYTES = 32
"""Random bytes per generated secret (43 URL-safe characters)."""


def secrets_dir(settings: Settings) -> Path:
    """``<home>/secrets``, created with mode 0700 (tightened when it exists)."""
    path = settings.home_dir / "secrets"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def secret_path(settings: Settings, name: str) -> Path:
    """The file of secret ``name`` (the file name, e.g. ``kafka-admin.password``)."""
    if not _NAME.match(name):
        raise ValueError(f"bad secret name {name!r}")
    return secrets_dir(settings) / name


def read_secret(settings: Settings, name: str) -> str | None:
    """The value of secret ``name``, None when it was never created."""
    try:
        value = secret_path(settings, name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not value:
        raise ConfigError(f"secret file {secret_path(settings, name)} is empty; delete it")
    return value


def read_or_create_secret(settings: Settings, name: str) -> str:
    """The value of secret ``name``; a new random one (file mode 0600) when there is none."""
    existing = read_secret(settings, name)
    if existing is not None:
        return existing
    target = secret_path(settings, name)
    value = random_secrets.token_urlsafe(SECRET_BYTES)
    partial = target.with_name(f".{name}.{os.getpid()}.{random_secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it first
            os.link(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    winner = read_secret(settings, name)
    if winner is None:
        raise ConfigError(f"secret {target} vanished while it was created")
    return winner
