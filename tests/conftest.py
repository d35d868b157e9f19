"""Shared test fixtures.

Integration and e2e tests use the real stack: the session brings it up once (a no-op when
``make`` already did). Every test gets its own topic prefix, consumer group id and PostgreSQL
database, so tests never see each other's data. A database per test (rather than a schema) keeps
the public ``proj.*`` table names real. On the local stack each component connects to that
database with its own PostgreSQL role (``Isolated.dsn`` is the owner's), so the suite runs with
the grants of migration 0008.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from psycopg2 import sql

from supportes.db.admin import drop_database
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.messaging.security import security_protocol, write_credentials_file
from supportes.settings import PgComponent, Settings, load_settings
from supportes.stack import manager
from supportes.stack.kafka_acls import drop_acls
from supportes.stack.kafka_admin import admin_client, ensure_topics, topic_specs

hypothesis_settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/integration → integration, tests/e2e → e2e."""
    for item in items:
        path = Path(str(item.fspath))
        if TESTS / "integration" in path.parents:
            item.add_marker(pytest.mark.integration)
        elif TESTS / "e2e" in path.parents:
            item.add_marker(pytest.mark.e2e)


COMPONENT_ROLES = [c for c in PgComponent if c is not PgComponent.OWNER]


@dataclass(frozen=True)
class Isolated:
    """One test's private corner of the shared stack."""

    settings: Settings
    group_id: str  # the writer's group: ``<prefix>-writer`` (the ACLs allow it the writer only)
    dsn: str
    database: str
    credentials_file: Path | None = None

    @property
    def projector_group(self) -> str:
        """A projector group of this corner, ``<prefix>-projector`` (its ACLs: the projector)."""
        return f"{self.settings.topic_prefix}-projector"

    def topic(self, name: str) -> str:
        """Full name of one of this test's topics."""
        return self.settings.topic(name)

    def env(self) -> dict[str, str]:
        """Environment variables pointing a ``supportes`` subprocess at this corner (JSON logs);
        the Kafka credentials of every component come in a credentials file."""
        env = {
            "SUPPORTES_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
            "SUPPORTES_PG_DSN": self.dsn,
            **{  # each component's own role, where the corner has one
                f"SUPPORTES_PG_{component.name}_DSN": dsn
                for component in COMPONENT_ROLES
                if (dsn := getattr(self.settings, f"pg_{component.value}_dsn"))
            },
            "SUPPORTES_TOPIC_PREFIX": self.settings.topic_prefix,
            "SUPPORTES_LOG_FORMAT": "json",
            "SUPPORTES_API_LISTEN": "127.0.0.1:0",  # serve's API on a free port
            "SUPPORTES_KEK_FILE": str(self.settings.kek_path),  # one KEK per deployment
        }
        if self.credentials_file is not None:
            env["SUPPORTES_KAFKA_CREDENTIALS_FILE"] = str(self.credentials_file)
            env["SUPPORTES_KAFKA_SECURITY_PROTOCOL"] = security_protocol(self.settings)
        return env


@pytest.fixture(scope="session")
def stack() -> Settings:
    """Settings of the running stack (started here when it is not running)."""
    settings = load_settings()
    manager.up(settings)
    return settings


_CREDENTIALS: dict[str, Path] = {}


def external_kafka_env(stack: Settings) -> dict[str, str]:
    """What a subprocess needs to use the shared broker as an external cluster (its bootstrap
    and, on a secured broker, every component's credentials)."""
    env = {"SUPPORTES_KAFKA_BOOTSTRAP": stack.bootstrap_servers}
    credentials = credentials_file(stack)
    if credentials is not None:
        env["SUPPORTES_KAFKA_CREDENTIALS_FILE"] = str(credentials)
    return env


def credentials_file(stack: Settings) -> Path | None:
    """Every component's Kafka credentials for subprocesses (written once per session, 0600);
    None for a cluster without SASL."""
    if not security_protocol(stack).startswith("SASL_"):
        return None
    key = str(stack.home_dir)
    if key not in _CREDENTIALS:
        directory = Path(tempfile.mkdtemp(prefix="supportes-credentials-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _CREDENTIALS[key] = write_credentials_file(stack, directory / "kafka.json")
    return _CREDENTIALS[key]


@contextlib.contextmanager
def fresh_database(stack: Settings, name: str | None = None) -> Iterator[str]:
    """The DSN of a new, migrated database of the running PostgreSQL (``name``, default a
    random ``test_...``), dropped after."""
    database = name or f"test_{uuid.uuid4().hex[:12]}"
    admin_conn = connect(stack.dsn)
    admin_conn.autocommit = True
    try:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        dsn = psycopg2.extensions.make_dsn(stack.dsn, dbname=database)
        try:
            migrate_database(dsn)
            yield dsn
        finally:
            drop_database(admin_conn, database)
    finally:
        admin_conn.close()


@contextlib.contextmanager
def isolated_corner(stack: Settings) -> Iterator[Isolated]:
    """A fresh topic prefix (topics created), group id and migrated database, removed after."""
    token = uuid.uuid4().hex[:12]
    database = f"test_{token}"
    with fresh_database(stack, database) as dsn, _corner_topics(stack, token, database, dsn) as it:
        yield it


@contextlib.contextmanager
def _corner_topics(stack: Settings, token: str, database: str, dsn: str) -> Iterator[Isolated]:
    update: dict[str, object] = {"topic_prefix": f"test-{token}", "pg_dsn": dsn}
    if stack.pg_is_local:  # each component as its own role, in this database
        for component in COMPONENT_ROLES:
            own = psycopg2.extensions.make_dsn(stack.dsn_for(component), dbname=database)
            update[f"pg_{component.value}_dsn"] = own
    settings = stack.model_copy(update=update)
    ensure_topics(settings)
    try:
        yield Isolated(settings, f"test-{token}-writer", dsn, database, credentials_file(stack))
    finally:
        with (
            contextlib.suppress(Exception),
            admin_client(settings) as admin,
        ):
            admin.delete_topics([spec.name for spec in topic_specs(settings)], timeout_ms=10_000)
            drop_acls(settings, admin)


@pytest.fixture
def isolated(stack: Settings) -> Iterator[Isolated]:
    """A fresh topic prefix (topics created), group id and migrated database for one test."""
    with isolated_corner(stack) as corner:
        yield corner
