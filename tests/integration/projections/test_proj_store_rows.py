"""``store_rows``: new keys go in by COPY, stored ones are replaced, and a key claimed new
that is stored already fails the write instead of writing it twice."""

from __future__ import annotations

from uuid import uuid4

import psycopg2.errors
import pytest

from supportes.db.connect import connect
from supportes.projections._pg import store_rows
from tests.conftest import Isolated

COLUMNS = ("case_id", "status", "n")


def test_new_keys_copied_stored_keys_replaced(isolated: Isolated) -> None:
    first, second = str(uuid4()), str(uuid4())
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE states (case_id uuid PRIMARY KEY, status text, n int)")
            store_rows(cur, "states", COLUMNS, "case_id", [(first, "new", 1)], stored=set())
            store_rows(
                cur, "states", COLUMNS, "case_id",
                [(first, "assigned", 2), (second, "new", 1)], stored={first},
            )  # fmt: skip
            cur.execute("SELECT case_id::text, status, n FROM states ORDER BY n, case_id")
            assert sorted(cur.fetchall()) == sorted([(first, "assigned", 2), (second, "new", 1)])
    finally:
        conn.close()


def test_stored_key_claimed_new_fails_and_changes_nothing(isolated: Isolated) -> None:
    key = str(uuid4())
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE public.states_once (case_id uuid PRIMARY KEY, status text, n int)"
            )
            store_rows(cur, "public.states_once", COLUMNS, "case_id", [(key, "new", 1)], stored=())
        conn.commit()
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.UniqueViolation):
            store_rows(
                cur, "public.states_once", COLUMNS, "case_id", [(key, "closed", 9)], stored=()
            )
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT status, n FROM public.states_once")
            assert cur.fetchall() == [("new", 1)]
            cur.execute("DROP TABLE public.states_once")
        conn.commit()
    finally:
        conn.close()
