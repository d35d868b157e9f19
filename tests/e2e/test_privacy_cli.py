"""Erasure end to end (issue 16): ``supportes serve`` (writer, projector, API) as a subprocess,
cases of two customers with text in every personal field, then ``supportes privacy erase``.

Nothing of the erased customer is left in any Kafka segment of any topic, in a ``pg_dump`` of
the whole database or in the serve log; the history is still proven (``audit verify``, ``case
history --from-log``), the read models show ``[erased]`` and a rebuild gives the same tables;
the other customer is untouched. Then: a second erase changes nothing, a command for the
erased customer is refused ``subject_erased``, and a key restored from an old copy of
``privacy.subject_keys`` is found and destroyed by ``privacy reconcile``. The tests run in
file order on one erasure.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from supportes.client import SupportesClient
from supportes.privacy.wiring import command_sealer
from supportes.settings import Settings
from tests.conftest import Isolated, isolated_corner
from tests.e2e.cli import run_cli
from tests.e2e.serving import start_serve
from tests.support.commands import command
from tests.support.history import dump_tables
from tests.support.leaks import files_holding, found_in, pg_dump, topics_holding
from tests.support.log import forge_events
from tests.support.personal_story import marker_for, story


@dataclass
class Erasure:
    """One corner where customer ``erased`` was erased and ``kept`` was not."""

    corner: Isolated
    erased: str
    kept: str
    erased_cases: list[str]
    kept_case: str
    old_key: tuple[Any, ...]
    """The erased customer's ``privacy.subject_keys`` row, copied before the erasure."""
    erasure: subprocess.CompletedProcess[str]
    serve_log: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a verb against this corner."""
        return run_cli(*args, env=self.corner.env(), timeout_s=300)

    def json(self, *args: str) -> Any:
        """Run a verb printing JSON; it must exit 0."""
        result = self.cli(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` as the owner."""
        with psycopg2.connect(self.corner.dsn) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()


def _submit(settings: Settings, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with SupportesClient(settings, command_sealer(settings)) as client:
        return client.submit(envelopes, timeout_s=120)


@pytest.fixture(scope="module")
def erasure(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erasure]:
    logs: Path = tmp_path_factory.mktemp("serve")
    with isolated_corner(stack) as corner:
        serve = start_serve(corner, logs, "serve")
        try:
            erased = f"customer:gone-{uuid.uuid4().hex[:8]}"
            kept = f"customer:kept-{uuid.uuid4().hex[:8]}"
            cases = [str(uuid.uuid4()) for _ in range(3)]
            stories = [story(cases[0], erased, 0), story(cases[1], kept, 1)]
            stories.append(story(cases[2], erased, 2))
            # interleaved: both customers share partitions, batches and transactions
            results = _submit(corner.settings, [c for s in zip(*stories, strict=True) for c in s])
            assert {r["status"] for r in results} == {"accepted"}, results
            env = corner.env()
            assert run_cli("projections", "wait", "--timeout", "60", env=env).returncode == 0
            assert found_in(pg_dump(corner.dsn), marker_for(erased))  # the scan can find it
            found = Erasure(corner, erased, kept, [cases[0], cases[2]], cases[1], (), None, logs)  # type: ignore[arg-type]
            (found.old_key,) = found.rows(
                "SELECT kid, subject, wrapped, kek_id FROM privacy.subject_keys WHERE subject = %s",
                erased,
            )
            found.erasure = run_cli(
                "privacy", "erase", erased, "--reason", "GDPR request 42", env=env
            )
            yield found
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(60) == 0


def test_the_erasure_completes_and_leaves_nothing_in_kafka_postgresql_or_the_logs(
    erasure: Erasure,
) -> None:
    assert erasure.erasure.returncode == 0, erasure.erasure.stdout + erasure.erasure.stderr
    assert "complete: nothing readable is left" in erasure.erasure.stdout
    status = erasure.json("privacy", "status", erasure.erased, "--json")
    assert (status["complete"], status["live_keys"]) == (True, 0)
    gone, stays = marker_for(erasure.erased), marker_for(erasure.kept)
    settings = erasure.corner.settings
    assert not topics_holding(settings, gone)
    assert topics_holding(settings, "SubjectErased")
    dump = pg_dump(erasure.corner.dsn)
    assert not found_in(dump, gone)
    assert found_in(dump, stays)
    assert not files_holding([erasure.serve_log / "serve.log"], gone)


def test_the_history_still_verifies_and_shows_the_masks(erasure: Erasure) -> None:
    verified = erasure.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for case in erasure.erased_cases:
        checked = erasure.json("case", "history", case, "--from-log", "--json")
        assert checked["log_check"]["differences"] == []
        assert checked["events"][0]["summary"].endswith("(normal): [erased]")
    kept = erasure.json("case", "history", erasure.kept_case, "--json")
    assert marker_for(erasure.kept) in kept["events"][0]["summary"]  # opened, not sealed
    (shown,) = erasure.rows(
        "SELECT subject, description, resolution FROM proj.case_view WHERE case_id = %s",
        erasure.erased_cases[0],
    )
    assert shown == ("[erased]", "[erased]", "[erased]")
    (other,) = erasure.rows(
        "SELECT subject FROM proj.case_view WHERE case_id = %s", erasure.kept_case
    )
    assert other[0].startswith(marker_for(erasure.kept))


def test_a_rebuild_gives_the_same_tables(erasure: Erasure) -> None:
    before = dump_tables(erasure.corner.dsn)
    rebuilt = erasure.cli("projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert dump_tables(erasure.corner.dsn) == before


def test_a_second_erase_changes_nothing_and_new_personal_data_is_refused(
    erasure: Erasure,
) -> None:
    events = erasure.rows("SELECT count(*) FROM event_index.events")
    again = erasure.cli("privacy", "erase", erasure.erased, "--reason", "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already erased" in again.stdout
    assert erasure.rows("SELECT count(*) FROM event_index.events") == events
    contact = command(
        "RecordContact",
        erasure.erased_cases[0],
        {"direction": "inbound", "channel": "chat", "summary": "I am back"},
        minutes=10_000,
    )
    (refused,) = _submit(erasure.corner.settings, [contact])
    assert refused["status"] == "rejected"
    assert refused["error"]["code"] == "subject_erased"


def test_export_decrypts_a_living_customer_and_masks_an_erased_one(erasure: Erasure) -> None:
    gone = erasure.json("privacy", "export", erasure.erased)
    assert len(gone["cases"]) == 2
    assert marker_for(erasure.erased) not in json.dumps(gone, ensure_ascii=False)
    assert "[erased]" in json.dumps(gone)
    kept = erasure.json("privacy", "export", erasure.kept)
    (case,) = kept["cases"]
    assert case["case_id"] == erasure.kept_case
    assert marker_for(erasure.kept) in case["events"][0]["payload"]["subject"]


def test_a_key_restored_from_an_old_copy_is_fenced_and_destroyed_by_reconcile(
    erasure: Erasure,
) -> None:
    with psycopg2.connect(erasure.corner.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id)"
            " VALUES (%s, %s, %s, %s)",
            erasure.old_key,
        )
    assert erasure.json("privacy", "status", erasure.erased, "--json")["complete"] is False
    assert erasure.json("privacy", "export", erasure.erased)["cases"]  # still masked: fenced
    assert marker_for(erasure.erased) not in json.dumps(
        erasure.json("privacy", "export", erasure.erased), ensure_ascii=False
    )
    assert erasure.json("privacy", "reconcile") == {"destroyed": [str(erasure.old_key[0])]}
    assert erasure.json("privacy", "status", erasure.erased, "--json")["complete"] is True


def test_a_ciphertext_moved_into_another_event_never_opens_and_audit_names_the_event(
    erasure: Erasure,
) -> None:
    case = erasure.kept_case
    chain = [r[0] for r in erasure.rows(
        "SELECT envelope FROM event_index.events WHERE aggregate_id = %s ORDER BY version", case
    )]  # fmt: skip
    moved = copy.deepcopy(chain[-1])  # the domain's CaseReopened: a plaintext reason
    assert moved["type"] == "CaseReopened"
    moved.update(version=len(chain) + 1, prev_hash=chain[-1]["hash"], event_id=str(uuid.uuid4()))
    moved["payload"]["reason"] = chain[0]["payload"]["subject"]  # the case's own subject, sealed
    (position,) = forge_events(erasure.corner.settings, [moved])
    waited = erasure.cli("projections", "wait", "--timeout", "60")
    assert waited.returncode == 0, erasure.cli("projections", "status", "--by-partition").stdout
    ((line,),) = erasure.rows(
        "SELECT summary FROM proj.case_timeline WHERE case_id = %s AND version = %s",
        case,
        len(chain) + 1,
    )
    assert line == "Reopened: [unreadable] (suggested owner agent:lead)"
    verified = erasure.cli("audit", "verify", "--json")
    assert verified.returncode == 4
    (failure,) = json.loads(verified.stdout)["failures"]
    assert (failure["partition"], failure["offset"]) == position
    assert (failure["aggregate_id"], failure["version"]) == (case, len(chain) + 1)
