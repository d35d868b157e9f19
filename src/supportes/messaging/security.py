"""Who a Kafka client is: one SASL principal per component (design section 8).

How a component finds its credentials, first match wins:

1. ``SUPPORTES_KAFKA_CREDENTIALS_FILE``: JSON ``{component: {"username", "password"}}``; the
   component must be in it.
2. ``SUPPORTES_KAFKA_USERNAME``/``SUPPORTES_KAFKA_PASSWORD``: one identity for every component.
3. The local broker (no ``SUPPORTES_KAFKA_BOOTSTRAP``): the component's principal
   (:func:`local_username`) with its password from ``<home>/secrets/kafka-<component>.password``
   (``supportes stack up`` creates them).
4. None: an external cluster without authentication (PLAINTEXT).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from supportes.errors import ConfigError
from supportes.settings import Settings
from supportes.stack.secrets import read_secret


class Component(StrEnum):
    """A part of supportes with its own Kafka principal and ACLs."""

    ADMIN = "admin"  # super user: stack tooling, topic and ACL management
    WRITER = "writer"
    PROJECTOR = "projector"
    API = "api"  # submits commands, reads results and events (SupportesClient, submit, demo)
    AUDITOR = "auditor"  # reads events (audit verify, log checks, case lookups)


ADMIN_USER = "admin"


def local_username(component: Component) -> str:
    """The local broker's principal name of ``component`` (``admin``, ``supportes-writer``...)."""
    return ADMIN_USER if component is Component.ADMIN else f"supportes-{component.value}"


def password_secret(component: Component) -> str:
    """The secret file name of ``component``'s local broker password."""
    return f"kafka-{component.value}.password"


@dataclass(frozen=True)
class Credentials:
    """A SASL identity."""

    username: str
    password: str

    def __repr__(self) -> str:  # never show the password
        return f"Credentials(username={self.username!r})"


def credentials_for(settings: Settings, component: Component) -> Credentials | None:
    """``component``'s credentials (see the module docstring), None for no authentication."""
    if settings.kafka_credentials_file is not None:
        return _from_file(settings.kafka_credentials_file, component)
    if settings.kafka_username is not None:
        if settings.kafka_password is None:
            raise ConfigError("SUPPORTES_KAFKA_USERNAME is set but SUPPORTES_KAFKA_PASSWORD is not")
        return Credentials(settings.kafka_username, settings.kafka_password.get_secret_value())
    if settings.kafka_is_local:
        password = read_secret(settings, password_secret(component))
        if password is None:
            raise ConfigError(
                f"no Kafka password for {component.value} under {settings.home_dir / 'secrets'}:"
                " run `supportes stack up` (it creates the credentials)"
            )
        return Credentials(local_username(component), password)
    return None


def _from_file(path: Path, component: Component) -> Credentials:
    where = f"SUPPORTES_KAFKA_CREDENTIALS_FILE {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    entry = document.get(component.value) if isinstance(document, dict) else None
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} has no entry for component {component.value!r}")
    username, password = entry.get("username"), entry.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str):
        raise ConfigError(f"{where}: {component.value} needs string username and password")
    return Credentials(username, password)


def security_protocol(settings: Settings) -> str:
    """The clients' protocol: as configured, else SASL_PLAINTEXT with credentials or for the
    local broker, else PLAINTEXT."""
    if settings.kafka_security_protocol is not None:
        return settings.kafka_security_protocol
    configured = settings.kafka_credentials_file is not None or settings.kafka_username is not None
    if configured or (settings.kafka_is_local and not legacy_local_broker(settings)):
        return "SASL_PLAINTEXT"
    return "PLAINTEXT"


def legacy_local_broker(settings: Settings) -> bool:
    """True while the local broker runs a configuration from before SASL (its data was
    formatted earlier and it has not been restarted since): clients then speak PLAINTEXT, and
    the next ``stack up`` after ``stack down`` secures it."""
    config = settings.home_dir / "kafka" / "server.properties"
    try:
        text = config.read_text(encoding="utf-8")
    except OSError:
        return False
    return "sasl." not in text


def sasl_credentials(settings: Settings, component: Component) -> Credentials | None:
    """``component``'s credentials when the clients speak SASL (None otherwise); ConfigError
    when they speak SASL and none are set."""
    protocol = security_protocol(settings)
    if not protocol.startswith("SASL_"):
        return None
    credentials = credentials_for(settings, component)
    if credentials is None:
        raise ConfigError(
            f"SUPPORTES_KAFKA_SECURITY_PROTOCOL is {protocol} but no credentials are set "
            "(SUPPORTES_KAFKA_USERNAME/_PASSWORD or SUPPORTES_KAFKA_CREDENTIALS_FILE)"
        )
    return credentials


def security_config(settings: Settings, component: Component) -> dict[str, Any]:
    """kafka-python settings authenticating as ``component`` (empty for a PLAINTEXT cluster)."""
    protocol = security_protocol(settings)
    config: dict[str, Any] = {"security_protocol": protocol}
    credentials = sasl_credentials(settings, component)
    if credentials is not None:
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=credentials.username,
            sasl_plain_password=credentials.password,
        )
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile is not None:
        config["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return config


def principal_of(settings: Settings, component: Component) -> str | None:
    """``User:<name>`` of ``component`` as the broker sees it (None: no authentication)."""
    if not security_protocol(settings).startswith("SASL_"):
        return None
    credentials = credentials_for(settings, component)
    return f"User:{credentials.username}" if credentials else None


def write_credentials_file(settings: Settings, path: Path) -> Path:
    """Write every component's credentials (as these settings resolve them) to ``path`` (0600),
    in the ``SUPPORTES_KAFKA_CREDENTIALS_FILE`` format: hand a process elsewhere its identities."""
    document: dict[str, dict[str, str]] = {}
    for component in Component:
        credentials = credentials_for(settings, component)
        if credentials is not None:
            document[component.value] = {
                "username": credentials.username,
                "password": credentials.password,
            }
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
    partial.replace(path)
    return path
