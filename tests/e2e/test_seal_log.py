"""The one-time migration of a log written before encryption (issue 16, README "Personal data"):
``supportes privacy seal-log --from-prefix OLD --delete-source`` against a real broker and
PostgreSQL, after ``supportes serve`` wrote two customers' cases in plaintext.

The new prefix's segments hold none of the customers' texts in any encoding; a rebuild on it
shows the same texts (opened); ``serve`` on it indexes the new log, ``audit verify`` exits 0 and
``case history --from-log`` matches; the old case goes on (a new command is accepted and the
chain still verifies); and now an erasure is possible: after ``privacy erase`` the customer's
text is nowhere in the new segments nor in a ``pg_dump``, while the other customer's reads.
"""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2

from supportes.client import SupportesClient
from supportes.privacy.wiring import command_sealer
from supportes.settings import Settings
from supportes.stack.kafka_acls import drop_acls
from supportes.stack.kafka_admin import admin_client, topic_specs
from tests.conftest import Isolated, isolated_corner
from tests.e2e.cli import run_cli
from tests.e2e.serving import start_serve
from tests.support.commands import command
from tests.support.leaks import found_in, pg_dump, topics_holding
from tests.support.personal_story import marker_for, story


def _case_texts(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT case_id, subject, description FROM proj.case_view ORDER BY case_id")
        return cur.fetchall()


@contextlib.contextmanager
def _new_prefix(old: Isolated) -> Iterator[Isolated]:
    settings = old.settings.model_copy(update={"topic_prefix": f"{old.settings.topic_prefix}-s"})
    new = Isolated(
        settings, f"{settings.topic_prefix}-writer", old.dsn, old.database, old.credentials_file
    )
    try:
        yield new
    finally:
        with contextlib.suppress(Exception), admin_client(settings) as admin:
            admin.delete_topics([spec.name for spec in topic_specs(settings)], timeout_ms=10_000)
            drop_acls(settings, admin)


def _write_in_plaintext(old: Isolated, tmp_path: Path, stories: list[list[dict[str, Any]]]) -> int:
    """``serve`` on the old prefix takes the stories from a client that does not seal (a log
    as written before encryption); how many commands."""
    serve = start_serve(old, tmp_path, "serve-old")
    try:
        interleaved = [c for pair in zip(*stories, strict=True) for c in pair]
        with SupportesClient(old.settings) as plain_client:  # no sealer: plaintext
            results = plain_client.submit(interleaved, timeout_s=120)
        assert {r["status"] for r in results} == {"accepted"}, results
        assert run_cli("projections", "wait", "--timeout", "60", env=old.env()).returncode == 0
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
    return len(interleaved)


def _check_report(report: dict[str, Any], commands: int) -> None:
    assert report["events"] > commands, report
    assert report["sealed_fields"] > 0
    assert (report["unknown_customer"], report["copied_unread"]) == (0, 0)
    assert report["results"] >= commands
    assert report["index_rows_deleted"] > 0
    assert report["source_deleted"] is True


def test_a_plaintext_log_is_sealed_into_a_new_prefix_and_can_then_forget(
    stack: Settings, tmp_path: Path
) -> None:
    gone, kept = (f"customer:{n}-{uuid.uuid4().hex[:8]}" for n in ("gone", "kept"))
    cases = [str(uuid.uuid4()), str(uuid.uuid4())]
    with isolated_corner(stack) as old, _new_prefix(old) as new:
        commands = _write_in_plaintext(
            old, tmp_path, [story(cases[0], gone, 0), story(cases[1], kept, 1)]
        )
        before = _case_texts(old.dsn)
        assert topics_holding(old.settings, marker_for(gone))  # the scan finds the plaintext

        migrated = run_cli(
            "privacy", "seal-log", "--from-prefix", old.settings.topic_prefix, "--delete-source",
            env=new.env(), timeout_s=300,
        )  # fmt: skip
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        _check_report(json.loads(migrated.stdout), commands)
        for customer in (gone, kept):
            assert topics_holding(new.settings, marker_for(customer)) == set()
        for source, words in ((new.settings.topic_prefix, "must name the old prefix"),
                              (old.settings.topic_prefix, "is not empty")):  # fmt: skip
            refused = run_cli("privacy", "seal-log", "--from-prefix", source, env=new.env())
            assert refused.returncode != 0
            assert words in refused.stdout + refused.stderr

        rebuilt = run_cli("projections", "rebuild", env=new.env(), timeout_s=300)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert _case_texts(new.dsn) == before  # opened, the same texts

        serve = start_serve(new, tmp_path, "serve-new")  # its writer indexes the new log
        try:
            verified = run_cli("audit", "verify", env=new.env(), timeout_s=300)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            history = run_cli("case", "history", cases[0], "--from-log", env=new.env())
            assert history.returncode == 0, history.stdout + history.stderr
            more = command(
                "RecordContact",
                cases[1],
                {"direction": "outbound", "channel": "email", "summary": "Checked in again"},
                minutes=60,
            )
            with SupportesClient(new.settings, command_sealer(new.settings)) as client:
                [answer] = client.submit([more], timeout_s=60)
            assert answer["status"] == "accepted", answer
            erased = run_cli("privacy", "erase", gone, "--reason", "ticket 13", env=new.env())
            assert erased.returncode == 0, erased.stdout + erased.stderr
            verified = run_cli("audit", "verify", env=new.env(), timeout_s=300)
            assert verified.returncode == 0, verified.stdout + verified.stderr
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(60) == 0
        assert topics_holding(new.settings, marker_for(gone)) == set()
        dump = pg_dump(new.dsn)
        assert not found_in(dump, marker_for(gone))
        assert found_in(dump, marker_for(kept))
