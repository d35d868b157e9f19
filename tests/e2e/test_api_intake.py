"""Channel intake and integrations acting for customers: routes, attested actor and ``via``."""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from supportes.auth import Role
from supportes.db.connect import connect
from supportes.settings import Settings
from tests.conftest import Isolated, isolated_corner
from tests.e2e.api_support import Api, command, running_api, wait_for
from tests.e2e.cli import run_cli

MAIL = "integration:mail"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Api]:
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("intake")) as running,
    ):
        yield running


def _rows(isolated: Isolated, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def _case_row(api: Api, case_id: str, **expected: object) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        with api.agent() as http:
            got = http.get(f"/v1/cases/{case_id}")
        if got.status_code != 200:
            return None
        row: dict[str, Any] = got.json()
        return row if all(row.get(k) == v for k, v in expected.items()) else None

    found: dict[str, Any] = wait_for(matches, what=f"case {case_id} with {expected}")
    return found


def _mail(api: Api) -> Any:
    return api.client(api.token(MAIL, Role.INTEGRATION))


def _contact(api: Api, customer: str, message: str, **extra: object) -> dict[str, Any]:
    with _mail(api) as http:
        answer = http.post(
            "/v1/contacts",
            json={"customer_id": customer, "channel": "email", "message": message, **extra},
        )
    assert answer.status_code in (200, 201), answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_intake_opens_records_reopens_and_follows_up(api: Api) -> None:
    customer = f"customer:{uuid.uuid4().hex[:8]}"
    opened = _contact(api, customer, "My router reboots every hour.\nSince Tuesday.")
    assert opened["action"] == "opened"
    case_id = opened["case_id"]
    row = _case_row(api, case_id, status="new")
    assert row["subject"] == "My router reboots every hour."

    recorded = _contact(api, customer, "Any news?")
    assert (recorded["action"], recorded["case_id"]) == ("recorded", case_id)
    _case_row(api, case_id, inbound_contacts=2)

    with api.agent("maria") as http:
        for body in (
            command("Assign", case_id, agent_id="agent:maria"),
            command("ApplyFix", case_id, kind="workaround", summary="Disable auto-update"),
            command("Resolve", case_id, resolution="Auto-update disabled"),
        ):
            answer = http.post("/v1/commands", json=body)
            assert answer.status_code == 200, answer.text
    _case_row(api, case_id, status="resolved")
    reopened = _contact(api, customer, "It rebooted again last night.")
    assert (reopened["action"], reopened["case_id"]) == ("reopened", case_id)
    row = _case_row(api, case_id, status="assigned")
    assert row["reopen_count"] == 1

    with api.agent("maria") as http:
        for body in (
            command("Resolve", case_id, resolution="Firmware replaced"),
            command("WaiveFollowUp", case_id, reason="customer asked for no calls"),
            command("Close", case_id),
        ):
            answer = http.post("/v1/commands", json=body)
            assert answer.status_code == 200, answer.text
    _case_row(api, case_id, status="closed")
    follow_up = _contact(
        api, customer, "Same problem on my second router", reference=row["reference"]
    )
    assert follow_up["action"] == "opened_follow_up"
    assert follow_up["follow_up_of"] == case_id
    new_row = _case_row(api, follow_up["case_id"], status="new")
    assert new_row["follow_up_of"] == case_id
    assert new_row["suggested_owner_id"] == "agent:maria"


def test_integration_acts_for_the_customer_with_via_on_the_events(api: Api) -> None:
    customer = f"customer:{uuid.uuid4().hex[:8]}"
    opened = _contact(api, customer, "Please close my account")
    case_id = opened["case_id"]
    envelope = wait_for(
        lambda: _rows(
            api.isolated,
            "SELECT envelope FROM event_index.events WHERE aggregate_id = %s AND version = 1",
            case_id,
        ),
        what="indexed event",
    )[0][0]
    assert envelope["actor"] == {"id": customer, "kind": "customer"}
    assert envelope["via"] == {"id": MAIL, "kind": "integration"}
    with api.agent() as http:
        history = http.get(f"/v1/cases/{case_id}/history").json()
    assert history["events"][0]["envelope"]["via"] == {"id": MAIL, "kind": "integration"}

    with _mail(api) as http:  # an integration writes only on behalf of a customer
        alone = http.post("/v1/commands", json=command("Acknowledge", case_id))
        assert alone.status_code == 403
        for_them = http.post(
            "/v1/commands",
            json={
                **command(
                    "RecordContact", case_id, direction="inbound", channel="email", summary="Thanks"
                ),
                "on_behalf_of": customer,
            },
        )
        assert for_them.status_code == 200, for_them.text
        someone_else = http.post(
            "/v1/commands",
            json={
                **command(
                    "RecordContact", case_id, direction="inbound", channel="email", summary="Hi"
                ),
                "on_behalf_of": "customer:not-the-owner",
            },
        )
        assert someone_else.status_code == 404


def test_changing_via_on_the_log_fails_audit_verify(api: Api) -> None:
    from supportes.messaging.clients import Component, transactional_producer
    from supportes.messaging.routing import key_of, partition_for

    customer = f"customer:{uuid.uuid4().hex[:8]}"
    case_id = _contact(api, customer, "Invoice is wrong")["case_id"]
    wait_for(
        lambda: _rows(
            api.isolated, "SELECT 1 FROM event_index.events WHERE aggregate_id = %s", case_id
        ),
        what="indexed event",
    )
    env = api.isolated.env()
    assert run_cli("audit", "verify", "--case", case_id, env=env).returncode == 0
    real = _rows(
        api.isolated,
        "SELECT envelope FROM event_index.events WHERE aggregate_id = %s AND version = 1",
        case_id,
    )[0][0]
    forged = copy.deepcopy(real)
    forged.update(version=2, prev_hash=real["hash"], event_id=str(uuid.uuid4()))
    forged["via"] = {"id": "integration:chat", "kind": "integration"}
    settings = api.isolated.settings
    producer = transactional_producer(settings, Component.ADMIN, f"rogue-{uuid.uuid4().hex[:8]}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(
            settings.topic("events"),
            key=key_of(case_id),
            value=json.dumps(forged).encode(),
            partition=partition_for(case_id, settings.partitions),
        )
        producer.commit_transaction()
    finally:
        producer.close(timeout=10)
    result: subprocess.CompletedProcess[str] = run_cli(
        "audit", "verify", "--case", case_id, env=env
    )
    assert result.returncode == 4, result.stderr
    assert "hash mismatch" in result.stderr
