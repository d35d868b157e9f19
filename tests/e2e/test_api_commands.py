"""Commands through the HTTP API: attested actor and time, status mapping, idempotency, ETags."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from supportes.auth import Role
from supportes.db.connect import connect
from tests.conftest import Isolated
from tests.e2e.api_support import Api, command, open_case_body, running_api, wait_for


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: object) -> Iterator[Api]:
    from supportes.settings import Settings
    from tests.conftest import isolated_corner

    assert isinstance(stack, Settings)
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("api")) as running,
    ):
        yield running


def _events_of(isolated: Isolated, case_id: str) -> list[dict[str, object]]:
    conn = connect(isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT envelope FROM event_index.events WHERE aggregate_id = %s ORDER BY version",
                (case_id,),
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_open_case_is_created_as_the_caller_with_the_servers_time(api: Api) -> None:
    body = open_case_body("customer:00001")
    with api.agent() as http:
        answer = http.post("/v1/commands", json=body)
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["status"] == "accepted"
    assert answer.headers["ETag"] == '"1"'
    assert answer.headers["Location"] == f"/v1/cases/{body['aggregate_id']}"
    events = wait_for(lambda: _events_of(api.isolated, body["aggregate_id"]), what="event")
    assert events[0]["actor"] == {"id": "agent:maria", "kind": "agent"}
    assert "via" not in events[0]


def test_naming_another_actor_is_forbidden_and_writes_nothing(api: Api) -> None:
    body = {**open_case_body("customer:00002"), "actor": {"id": "agent:boss", "kind": "agent"}}
    with api.agent() as http:
        answer = http.post("/v1/commands", json=body)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    with api.agent() as http:
        assert http.get(f"/v1/commands/{uuid.uuid4()}").status_code == 404
    assert _events_of(api.isolated, body["aggregate_id"]) == []


def test_issued_at_is_honoured_only_for_admin(api: Api) -> None:
    body = {**open_case_body("customer:00003"), "issued_at": "2020-01-01T00:00:00Z"}
    with api.agent() as http:
        refused = http.post("/v1/commands", json=body)
    assert refused.status_code == 403
    assert "issued_at" in refused.json()["error"]["message"]
    admin = api.client(api.token("admin:ops", Role.ADMIN))
    with admin:
        accepted = admin.post("/v1/commands", json=body)
    assert accepted.status_code == 201, accepted.text
    events = wait_for(lambda: _events_of(api.isolated, body["aggregate_id"]), what="event")
    assert events[0]["occurred_at"] == "2020-01-01T00:00:00Z"


def test_status_mapping_invalid_not_found_conflict(api: Api) -> None:
    with api.agent() as http:
        invalid = http.post("/v1/commands", json=open_case_body("customer:00004", channel="fax"))
        assert invalid.status_code == 422
        assert invalid.json()["error"]["field"] == "payload.channel"
        unknown = http.post("/v1/commands", json=command("Acknowledge", str(uuid.uuid4())))
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"
        body = open_case_body("customer:00004")
        assert http.post("/v1/commands", json=body).status_code == 201
        again = http.post("/v1/commands", json=body)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_exists"
        no_such_type = http.post("/v1/commands", json=command("Frobnicate", str(uuid.uuid4())))
        assert no_such_type.status_code in (403, 422)
        extra = http.post("/v1/commands", json={**body, "colour": "red"})
        assert extra.status_code == 422
        assert extra.json()["error"]["field"] == "colour"


def test_if_match_stale_version_is_412(api: Api) -> None:
    body = open_case_body("customer:00005")
    case_id = body["aggregate_id"]
    with api.agent() as http:
        assert http.post("/v1/commands", json=body).status_code == 201
        ok = http.post(
            "/v1/commands", json=command("Acknowledge", case_id), headers={"If-Match": '"1"'}
        )
        assert ok.status_code == 200, ok.text
        assert ok.headers["ETag"] == '"2"'
        stale = http.post(
            "/v1/commands",
            json=command("Assign", case_id, agent_id="agent:maria"),
            headers={"If-Match": '"1"'},
        )
        assert stale.status_code == 412
        assert stale.json()["error"]["code"] == "version_conflict"
        without = http.post(
            "/v1/commands",
            json={**command("Assign", case_id, agent_id="agent:maria"), "aggregate_id": case_id},
        )
        assert without.status_code == 200


def test_idempotency_key_replays_the_first_result(api: Api) -> None:
    body = open_case_body("customer:00006")
    key = {"Idempotency-Key": f"mail-{uuid.uuid4()}"}
    with api.agent() as http:
        first = http.post("/v1/commands", json=body, headers=key)
        assert first.status_code == 201
        assert "Idempotent-Replayed" not in first.headers
        second = http.post("/v1/commands", json=body, headers=key)
        assert second.status_code == 201
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json() == first.json()
        other = http.post(
            "/v1/commands",
            json={**body, "payload": {**body["payload"], "subject": "x"}},
            headers=key,
        )
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(_events_of(api.isolated, body["aggregate_id"])) == 1


def test_command_result_can_be_read_back(api: Api) -> None:
    body = open_case_body("customer:00007")
    with api.agent() as http:
        posted = http.post("/v1/commands", json=body)
        command_id = posted.json()["command_id"]
        read = wait_for(
            lambda: (r := http.get(f"/v1/commands/{command_id}")).status_code == 200 and r,
            what="result in the index",
        )
    assert read.json() == posted.json()


def test_body_over_the_limit_is_413_and_nothing_is_sent(api: Api) -> None:
    body = open_case_body("customer:00008", description="x" * 1_100_000)
    with api.agent() as http:
        answer = http.post("/v1/commands", json=body)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert _events_of(api.isolated, body["aggregate_id"]) == []


def _commands_on_log(isolated: Isolated) -> int:
    from kafka import TopicPartition

    from supportes.messaging.clients import Component, committed_reader

    reader = committed_reader(isolated.settings, Component.AUDITOR)
    try:
        topic = isolated.topic("commands")
        parts = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        return sum(reader.end_offsets(parts).values())
    finally:
        reader.close()


def test_nothing_of_a_refused_request_reaches_kafka(api: Api) -> None:
    before = _commands_on_log(api.isolated)
    body = open_case_body("customer:00009")
    refusals = {
        "no token": (api.client(), body, 401),
        "auditor": (api.client(api.token("auditor:a", Role.AUDITOR)), body, 403),
        "another actor": (
            api.agent(),
            {**body, "actor": {"id": "agent:boss", "kind": "agent"}},
            403,
        ),
        "invalid": (api.agent(), open_case_body("customer:00009", priority="asap"), 422),
        "unknown field": (api.agent(), {**body, "extra": 1}, 422),
        "NUL in text": (api.agent(), open_case_body("customer:00009", subject="a\u0000b"), 422),
        "too large": (api.agent(), open_case_body("c", description="x" * 1_100_000), 413),
    }
    for name, (http, sent, status) in refusals.items():
        with http:
            answer = http.post("/v1/commands", json=sent)
        assert answer.status_code == status, f"{name}: {answer.text[:300]}"
        assert set(answer.json()) >= {"error"}, name
    assert _commands_on_log(api.isolated) == before
