"""Shared test fixtures.

Integration and e2e tests use the real stack: the session brings it up once (a no-op when
``make`` already did). Every test gets its own topic prefix, consumer group id and PostgreSQL
database, so tests never see each other's data. A database per test (rather than a schema) keeps
the public ``proj.*`` table names real.
"""

from __future__ import annotations

import contextlib
import os
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
from supportes.settings import Settings, load_settings
from supportes.stack import manager
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


@dataclass(frozen=True)
class Isolated:
    """One test's private corner of the shared stack."""

    settings: Settings
    group_id: str
    dsn: str
    database: str

    def topic(self, name: str) -> str:
        """Full name of one of this test's topics."""
        return self.settings.topic(name)

    def env(self) -> dict[str, str]:
        """Environment variables pointing a ``supportes`` subprocess at this corner (JSON logs)."""
        return {
            "SUPPORTES_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
            "SUPPORTES_PG_DSN": self.dsn,
            "SUPPORTES_TOPIC_PREFIX": self.settings.topic_prefix,
            "SUPPORTES_LOG_FORMAT": "json",
        }


@pytest.fixture(scope="session")
def stack() -> Settings:
    """Settings of the running stack (started here when it is not running)."""
    settings = load_settings()
    manager.up(settings)
    return settings


@contextlib.contextmanager
def isolated_corner(stack: Settings) -> Iterator[Isolated]:
    """A fresh topic prefix (topics created), group id and migrated database, removed after."""
    token = uuid.uuid4().hex[:12]
    database = f"test_{token}"
    admin_conn = connect(stack.dsn)
    admin_conn.autocommit = True
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    dsn = psycopg2.extensions.make_dsn(stack.dsn, dbname=database)
    settings = stack.model_copy(update={"topic_prefix": f"test-{token}", "pg_dsn": dsn})
    ensure_topics(settings)
    migrate_database(dsn)
    try:
        yield Isolated(settings, f"test-{token}", dsn, database)
    finally:
        drop_database(admin_conn, database)
        admin_conn.close()
        with (
            contextlib.suppress(Exception),
            admin_client(settings.bootstrap_servers) as admin,
        ):
            admin.delete_topics([spec.name for spec in topic_specs(settings)], timeout_ms=10_000)


@pytest.fixture
def isolated(stack: Settings) -> Iterator[Isolated]:
    """A fresh topic prefix (topics created), group id and migrated database for one test."""
    with isolated_corner(stack) as corner:
        yield corner
