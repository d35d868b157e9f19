"""Ordered SQL migrations, applied idempotently and recorded in ``public.schema_migrations``.

Files live in ``supportes/db/migrations`` as ``NNNN_description.sql``. Each one runs in its own
transaction under an advisory lock, so concurrent starters apply it once. An applied file whose
text has since changed is an error: ship a new migration instead of editing an old one.
After every run the component roles' grants are applied again (``supportes_apply_grants()``,
migration 0008, ``supportes_apply_privacy_grants()``, migration 0010, and
``supportes_apply_privacy_function_grants()``, migration 0012), idempotently: roles created
since, and schemas added since, are covered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg2.extensions

from supportes.db.connect import connect
from supportes.errors import ConfigError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5355_5050  # "SUPP": one advisory lock for all migration runs
_GRANT_FUNCTIONS = (
    "public.supportes_apply_grants()",  # 0008: schemas event_index, proj, auth
    "public.supportes_apply_privacy_grants()",  # 0010: schema privacy, table by table
    "public.supportes_apply_privacy_function_grants()",  # 0012: who may call erase_subject
)

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version number, name, text and checksum."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The packaged migrations in version order (versions must be unique)."""
    found: dict[int, Migration] = {}
    for entry in resources.files("supportes.db.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_migrations(conn: psycopg2.extensions.connection) -> list[Migration]:
    """Apply the migrations not yet recorded; return the ones applied by this call."""
    applied_now: list[Migration] = []
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    conn.commit()
    try:
        with conn.cursor() as cur:
            cur.execute(_CREATE_LEDGER)
            cur.execute("SELECT version, checksum FROM public.schema_migrations")
            recorded = dict(cur.fetchall())
        conn.commit()
        for migration in available_migrations():
            if migration.version in recorded:
                if recorded[migration.version] != migration.checksum:
                    raise ConfigError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was "
                        "applied; add a new migration instead"
                    )
                continue
            with conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO public.schema_migrations (version, name, checksum)"
                    " VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            conn.commit()
            applied_now.append(migration)
        _apply_grants(conn)
    except BaseException:
        conn.rollback()
        raise
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.commit()
    return applied_now


def _apply_grants(conn: psycopg2.extensions.connection) -> None:
    with conn.cursor() as cur:
        for function in _GRANT_FUNCTIONS:
            cur.execute("SELECT to_regprocedure(%s) IS NOT NULL", (function,))
            row = cur.fetchone()
            if row is not None and row[0]:
                cur.execute(f"SELECT {function}")
    conn.commit()


def migrate_database(dsn: str, *, timeout_s: float = 10.0) -> list[Migration]:
    """Connect to ``dsn``, apply what is missing (:func:`apply_migrations`), disconnect."""
    conn = connect(dsn, timeout_s=timeout_s)
    try:
        return apply_migrations(conn)
    finally:
        conn.close()
