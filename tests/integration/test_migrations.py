"""Migrations are ordered, recorded once, safe to run twice or concurrently."""

from __future__ import annotations

import threading

import pytest

from supportes.db.connect import connect
from supportes.db.migrate import apply_migrations, available_migrations
from supportes.errors import ConfigError
from tests.conftest import Isolated


def _scalar(dsn: str, query: str) -> object:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def test_applying_twice_leaves_one_schema(isolated: Isolated) -> None:
    conn = connect(isolated.dsn)
    try:
        assert apply_migrations(conn) == []  # the fixture already applied them all
    finally:
        conn.close()
    versions = _scalar(
        isolated.dsn, "SELECT array_agg(version ORDER BY version) FROM schema_migrations"
    )
    assert versions == [m.version for m in available_migrations()]
    assert (
        _scalar(
            isolated.dsn,
            "SELECT count(*) FROM information_schema.schemata"
            " WHERE schema_name IN ('proj', 'event_index')",
        )
        == 2
    )
    assert _scalar(isolated.dsn, "SELECT to_regclass('proj.offsets')::text") == "proj.offsets"


def test_concurrent_runs_apply_each_migration_once(isolated: Isolated) -> None:
    conn = connect(isolated.dsn)
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA proj CASCADE; DROP SCHEMA event_index CASCADE;")
        cur.execute("DELETE FROM schema_migrations")
    conn.commit()
    conn.close()
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            c = connect(isolated.dsn)
            try:
                results.append(len(apply_migrations(c)))
            finally:
                c.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [0, 0, 0, len(available_migrations())]
    assert _scalar(isolated.dsn, "SELECT count(*) FROM schema_migrations") == len(
        available_migrations()
    )


def test_an_edited_migration_is_refused(isolated: Isolated) -> None:
    conn = connect(isolated.dsn)
    with conn.cursor() as cur:
        cur.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    conn.commit()
    with pytest.raises(ConfigError, match="changed after it was applied"):
        apply_migrations(conn)
    conn.close()
