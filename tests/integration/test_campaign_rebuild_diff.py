"""The campaign names the rows that differ between the live projections and a rebuild (by key
columns only), so a difference can be looked into after the deployment is gone."""

from __future__ import annotations

from supportes.db.connect import connect
from supportes.faults.campaign import _rows_apart
from supportes.settings import Settings
from tests.conftest import fresh_database


def test_rows_only_on_one_side_are_counted_and_keyed(stack: Settings) -> None:
    with fresh_database(stack) as dsn:
        conn = connect(dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE proj.probe (id int PRIMARY KEY, n int, note jsonb);"
                    "INSERT INTO proj.probe VALUES (1, 1, '{}'), (2, 2, '[1]'), (3, 3, null);"
                    "CREATE SCHEMA campaign_live;"
                    "CREATE TABLE campaign_live.probe AS TABLE proj.probe;"
                    "UPDATE proj.probe SET n = 20 WHERE id = 2;"
                    "DELETE FROM proj.probe WHERE id = 3;"
                )
                apart = _rows_apart(cur, "probe")
        finally:
            conn.close()
    assert apart["only_live"] == 2
    assert sorted(apart["only_live_keys"]) == [["2"], ["3"]]
    assert apart["only_rebuilt"] == 1
    assert apart["only_rebuilt_keys"] == [["2"]]
