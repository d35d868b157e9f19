"""``supportes migrate``: the database migrations alone, for deployments on users' servers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from supportes.bench.scratch import scratch_database
from supportes.db.connect import connect
from supportes.db.migrate import available_migrations
from supportes.settings import Settings
from tests.e2e.cli import free_port, run_cli


@pytest.fixture
def empty_database(stack: Settings) -> Iterator[str]:
    """The DSN of a new database with nothing in it, dropped after."""
    with scratch_database(stack) as dsn:
        yield dsn


def test_migrate_applies_everything_once_and_never_touches_kafka(empty_database: str) -> None:
    # no broker at this address: the verb must not need one
    env = {
        "SUPPORTES_PG_DSN": empty_database,
        "SUPPORTES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }
    every = [f"{m.version:04d}" for m in available_migrations()]
    first = run_cli("migrate", "--json", env=env, timeout_s=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"applied": every, "version": every[-1]}
    again = run_cli("migrate", env=env, timeout_s=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"nothing to apply; the schema is at {every[-1]}"
    conn = connect(empty_database)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'proj'"
            )
            row = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    assert row is not None
    assert row[0] > 5


def test_migrate_without_a_database_is_one_line_exit_1() -> None:
    env = {"SUPPORTES_PG_DSN": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}
    result = run_cli("migrate", env=env, timeout_s=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("supportes: error:")]
    assert len(errors) == 1, result.stderr
