"""Least privilege in PostgreSQL (design section 8): each component's role may do what its code
needs and nothing else, the grants survive a projection rebuild, and no password leaks.

Runs against the local stack's cluster (the roles are created by ``stack up``); skipped when the
tests use an external PostgreSQL (``SUPPORTES_PG_DSN``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from supportes.db.connect import connect
from supportes.ops.rebuild import rebuild
from supportes.settings import PgComponent, Settings
from supportes.stack.postgres_local import superuser_connect
from supportes.stack.postgres_roles import COMPONENTS, ensure_roles, role_passwords, scram_matches
from tests.conftest import Isolated, isolated_corner
from tests.e2e.cli import run_cli
from tests.support.roles import as_role, assert_allowed, assert_refused

WRITES = {
    "insert": "INSERT INTO {table} DEFAULT VALUES",
    "update": "UPDATE {table} SET {column} = {column} WHERE false",
    "delete": "DELETE FROM {table} WHERE false",
    "truncate": "TRUNCATE {table}",
}
EVENT_INDEX = [
    ("event_index.events", "version"),
    ("event_index.processed_commands", "command_id"),
    ("event_index.log_positions", "next_offset"),
    ("event_index.parked_records", "topic"),
]
PROJ = [("proj.case_view", "status"), ("proj.offsets", "next_offset")]


@pytest.fixture(autouse=True)
def _local_only(stack: Settings) -> None:
    if not stack.pg_is_local:
        pytest.skip("the component roles are made by `stack up` on the local cluster")


@pytest.fixture(scope="module")
def isolated(stack: Settings) -> Iterator[Isolated]:
    """One database for the whole module: these tests only read it, and roll back."""
    with isolated_corner(stack) as corner:
        yield corner


def _refused(isolated: Isolated, component: PgComponent, statement: str) -> None:
    assert_refused(isolated.settings.dsn_for(component), component, statement)


def _allowed(isolated: Isolated, component: PgComponent, statement: str) -> None:
    assert_allowed(isolated.settings.dsn_for(component), component, statement)


def _writes(tables: list[tuple[str, str]]) -> list[str]:
    return [w.format(table=t, column=c) for t, c in tables for w in WRITES.values()]


@pytest.mark.parametrize("statement", [*_writes(PROJ), *_writes(EVENT_INDEX)])
def test_analytics_cannot_write_anything(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.ANALYTICS, statement)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE proj.mine (x int)",
        "CREATE VIEW proj.mine AS SELECT 1 AS x",
        "CREATE INDEX mine ON proj.case_view (subject)",
        "ALTER TABLE proj.case_view ADD COLUMN mine int",
        "DROP TABLE proj.case_view",
        "CREATE SCHEMA mine",
        "CREATE TEMPORARY TABLE mine (x int)",
        "SELECT * FROM event_index.events",
        "SELECT * FROM event_index.processed_commands",
        "SELECT * FROM public.schema_migrations",
        "SELECT public.supportes_apply_grants()",
    ],
)
def test_analytics_cannot_create_nor_read_beyond_proj(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.ANALYTICS, statement)


def test_analytics_reads_every_projection_table(isolated: Isolated) -> None:
    with as_role(isolated.settings.dsn_for(PgComponent.ANALYTICS), PgComponent.ANALYTICS) as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'proj'")
        tables = [name for (name,) in cur.fetchall()]
        assert "case_view" in tables
        for table in tables:
            cur.execute(f"SELECT count(*) FROM proj.{table}")


@pytest.mark.parametrize("statement", _writes(EVENT_INDEX))
def test_api_cannot_write_the_event_index(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.API, statement)


@pytest.mark.parametrize("statement", _writes(PROJ))
def test_api_cannot_write_projections(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.API, statement)


def test_api_reads_projections_and_the_event_index(isolated: Isolated) -> None:
    for table, _ in [*PROJ, *EVENT_INDEX]:
        _allowed(isolated, PgComponent.API, f"SELECT count(*) FROM {table}")


def test_api_reads_and_writes_auth_when_it_exists(isolated: Isolated) -> None:
    with as_role(isolated.settings.dsn_for(PgComponent.API), PgComponent.API) as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'auth'")
        tables = [name for (name,) in cur.fetchall()]
        if not tables:
            pytest.skip("no auth schema (migration 0007) in this tree yet")
        for table in tables:
            cur.execute(f"DELETE FROM auth.{table} WHERE false")
            cur.execute(f"SELECT count(*) FROM auth.{table}")


@pytest.mark.parametrize("statement", _writes(PROJ))
def test_writer_cannot_write_projections(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.WRITER, statement)


def test_writer_writes_the_event_index(isolated: Isolated) -> None:
    for table, column in EVENT_INDEX:
        for name in ("update", "delete"):
            _allowed(isolated, PgComponent.WRITER, WRITES[name].format(table=table, column=column))
    _refused(isolated, PgComponent.WRITER, "TRUNCATE event_index.events")
    _refused(isolated, PgComponent.WRITER, "CREATE TABLE event_index.mine (x int)")


@pytest.mark.parametrize("statement", _writes(EVENT_INDEX))
def test_projector_cannot_write_the_event_index(isolated: Isolated, statement: str) -> None:
    _refused(isolated, PgComponent.PROJECTOR, statement)


def test_projector_writes_rows_but_does_no_ddl(isolated: Isolated) -> None:
    for table, column in PROJ:
        for name in ("update", "delete"):
            _allowed(
                isolated, PgComponent.PROJECTOR, WRITES[name].format(table=table, column=column)
            )
    _allowed(isolated, PgComponent.PROJECTOR, "CREATE TEMPORARY TABLE stage (x int)")  # COPY
    for statement in (
        "DROP TABLE proj.case_view",
        "CREATE TABLE proj.mine (x int)",
        "CREATE SCHEMA mine",
        "SELECT * FROM event_index.events",
    ):
        _refused(isolated, PgComponent.PROJECTOR, statement)


def test_no_role_is_a_superuser_or_may_create_roles(isolated: Isolated, stack: Settings) -> None:
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication,"
                " rolbypassrls FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
                ([stack.pg_user, *(c.role for c in COMPONENTS)],),
            )
            found = {name: flags for name, *flags in cur.fetchall()}
            cur.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
            assert cur.fetchone() == (stack.pg_user, False)  # the owner runs migrations
    finally:
        conn.close()
    assert found.pop(stack.pg_user) == [False, False, True, False, False]  # CREATEDB: tests
    assert found == {c.role: [False, False, False, False, False] for c in COMPONENTS}


def test_stack_up_sets_roles_idempotently(stack: Settings) -> None:
    conn = superuser_connect(stack)
    conn.autocommit = True
    try:
        assert ensure_roles(stack, conn) == []  # `stack up` made them: nothing left to change
        verifier = psycopg2.extensions.encrypt_password("s3cret", "someone", conn, "scram-sha-256")
    finally:
        conn.close()
    assert scram_matches(verifier, "s3cret")
    assert not scram_matches(verifier, "s3cret2")
    assert not scram_matches(None, "s3cret")
    assert not scram_matches("md5" + "0" * 32, "s3cret")


def test_the_superuser_cannot_log_in_over_tcp(stack: Settings) -> None:
    dsn = psycopg2.extensions.make_dsn(stack.dsn, user="postgres")
    with pytest.raises(psycopg2.OperationalError, match="rejects connection"):
        psycopg2.connect(dsn).close()


def test_no_password_no_login(stack: Settings) -> None:
    for user in [stack.pg_user, *(c.role for c in COMPONENTS)]:
        dsn = f"host=127.0.0.1 port={stack.pg_port} dbname={stack.pg_database} user={user}"
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(dsn, passfile="/dev/null").close()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(dsn, password="not-the-password").close()


def _acl_and_oid(isolated: Isolated, table: str) -> tuple[str, int]:
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT relacl::text, oid::int FROM pg_class WHERE oid = %s::regclass", (table,)
            )
            row = cur.fetchone()
            assert row is not None
            return row[0], row[1]
    finally:
        conn.close()


def test_grants_survive_a_projection_rebuild(isolated: Isolated) -> None:
    before = {t: _acl_and_oid(isolated, f"proj.{t}") for t in ("case_view", "case_timeline")}
    report = rebuild(isolated.settings, ["case_view", "timeline"], progress_every_s=60)
    assert report.projections == ["case_view", "timeline"]
    for table, (acl, oid) in before.items():
        acl_after, oid_after = _acl_and_oid(isolated, f"proj.{table}")
        assert oid_after != oid, f"{table} was not replaced"
        assert acl_after == acl
        _allowed(isolated, PgComponent.ANALYTICS, f"SELECT count(*) FROM proj.{table}")
        _allowed(isolated, PgComponent.API, f"SELECT count(*) FROM proj.{table}")
        _allowed(isolated, PgComponent.PROJECTOR, f"DELETE FROM proj.{table} WHERE false")
        _refused(isolated, PgComponent.ANALYTICS, f"DELETE FROM proj.{table} WHERE false")
        _refused(isolated, PgComponent.WRITER, f"DELETE FROM proj.{table} WHERE false")


def _stack_log_files(home: Path) -> list[Path]:
    """The stack's own log files, not walking Kafka's data directory.

    Kafka renames and deletes partition directories under ``kafka/data`` while other tests run,
    so a walk through it can meet a directory that is gone by the time it is listed.
    """
    data = home / "kafka" / "data"
    found: list[Path] = []
    for root, dirs, files in os.walk(home, onerror=lambda _error: None):
        here = Path(root)
        dirs[:] = [d for d in dirs if here / d != data]
        found.extend(here / name for name in files if name.endswith(".log"))
    return [path for path in found if path.is_file()]


def test_passwords_are_private_and_never_shown(stack: Settings) -> None:
    secrets = stack.home_dir / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    passwords = role_passwords(stack)
    files = [secrets / f"pg-{role}.password" for role in passwords] + [stack.pg_passfile]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    status = run_cli("stack", "status", "--json", env={"SUPPORTES_HOME": str(stack.home_dir)})
    assert status.returncode == 0, status.stderr
    assert "postgres" in status.stdout
    shown = status.stdout + status.stderr
    logs = _stack_log_files(stack.home_dir)
    assert logs, "no log files found under the stack's home"
    for password in passwords.values():
        assert password not in shown
        for log in logs:
            assert password.encode() not in log.read_bytes(), log
    assert os.environ.get("PGPASSWORD") is None
