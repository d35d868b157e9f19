"""Login roles of the local cluster: the owner and one role per component (design section 8).

Run by the stack tooling as the cluster's superuser (over the Unix socket, see
:mod:`supportes.stack.postgres_local`); nothing at run time connects as a superuser. Passwords
are generated once into ``<home>/secrets/pg-<role>.password`` (0600) and copied into the libpq
password file ``<home>/secrets/pgpass`` (0600) that the DSNs of :meth:`Settings.dsn_for` name,
so no password is ever part of a DSN, a log line or a command line. Only SCRAM verifiers
reach the server. Everything here is idempotent: a second run changes nothing.

What each role may do inside a database is granted by migration ``0008_roles.sql``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets as random_secrets
from collections.abc import Mapping
from pathlib import Path

import psycopg2.extensions
from psycopg2 import sql

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.settings import LOCAL_HOST, PgComponent, Settings
from supportes.stack.secrets import read_or_create_secret, secrets_dir

log = get_logger("stack.postgres")

COMPONENTS = (
    PgComponent.WRITER,
    PgComponent.PROJECTOR,
    PgComponent.API,
    PgComponent.ANALYTICS,
)
_NEVER = "NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS"
OWNER_ATTRIBUTES = f"LOGIN CREATEDB {_NEVER}"  # CREATEDB: the tests' database per test
COMPONENT_ATTRIBUTES = f"LOGIN NOCREATEDB NOINHERIT {_NEVER}"


def role_passwords(settings: Settings) -> dict[str, str]:
    """Role name -> password (created on first use) for the owner and every component."""
    names = [settings.pg_user, *(c.role for c in COMPONENTS)]
    return {name: read_or_create_secret(settings, f"pg-{name}.password") for name in names}


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored ``SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`` verifies ``password``
    (ASCII passwords only: SASLprep leaves them alone)."""
    try:
        method, params, keys = (verifier or "").split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = keys.split(":")
    except ValueError:
        return False
    if method != "SCRAM-SHA-256" or not password.isascii():
        return False
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    expected_stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    expected_server = base64.b64encode(hmac.digest(salted, b"Server Key", "sha256")).decode()
    return hmac.compare_digest(expected_stored, stored_key) and hmac.compare_digest(
        expected_server, server_key
    )


def ensure_roles(settings: Settings, superuser: psycopg2.extensions.connection) -> list[str]:
    """Create or correct the owner and component roles (attributes and passwords); return the
    roles changed. ``superuser`` must be in autocommit mode."""
    if settings.pg_user == "postgres":
        raise StackError("SUPPORTES_PG_USER must not be the superuser 'postgres'")
    changed = []
    wanted = {settings.pg_user: OWNER_ATTRIBUTES}
    wanted.update({c.role: COMPONENT_ATTRIBUTES for c in COMPONENTS})
    passwords = role_passwords(settings)
    with superuser.cursor() as cur:
        for role, attributes in wanted.items():
            cur.execute(
                "SELECT rolpassword, (rolsuper, rolcreaterole, rolcanlogin, rolreplication,"
                " rolbypassrls, rolcreatedb) <> (false, false, true, false, false, %s)"
                " FROM pg_authid WHERE rolname = %s",
                (role == settings.pg_user, role),
            )
            found = cur.fetchone()
            password = passwords[role]
            name = sql.Identifier(role)
            if found is None:
                verifier = psycopg2.extensions.encrypt_password(
                    password, role, superuser, "scram-sha-256"
                )
                cur.execute(
                    sql.SQL("CREATE ROLE {} WITH " + attributes + " PASSWORD %s").format(name),
                    (verifier,),
                )
                changed.append(role)
                continue
            stored, wrong_attributes = found
            if wrong_attributes:
                cur.execute(sql.SQL("ALTER ROLE {} WITH " + attributes).format(name))
                changed.append(role)
            if not scram_matches(stored, password):
                verifier = psycopg2.extensions.encrypt_password(
                    password, role, superuser, "scram-sha-256"
                )
                cur.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD %s").format(name), (verifier,))
                changed.append(role)
    write_passfile(settings, passwords)
    if changed:
        log.info("postgres roles set", roles=sorted(set(changed)))
    return changed


def _pgpass_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def write_passfile(settings: Settings, passwords: Mapping[str, str]) -> Path:
    """Write ``<home>/secrets/pgpass`` (0600, atomically) with one line per role."""
    secrets_dir(settings)
    path = settings.pg_passfile
    text = "".join(
        f"{LOCAL_HOST}:{settings.pg_port}:*:{_pgpass_field(role)}:{_pgpass_field(password)}\n"
        for role, password in passwords.items()
    )
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8") == text and (path.stat().st_mode & 0o077) == 0:
            return path
    partial = path.with_name(f".pgpass.{os.getpid()}.{random_secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return path
