"""Reads through the HTTP API: cases, history, responsibility, SSE, reports, the event feed."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import TopicPartition

from supportes.auth import Role
from supportes.messaging.clients import Component, committed_reader
from supportes.messaging.log_reader import read_to_end
from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, command, open_case_body, running_api, wait_for

CUSTOMER = "customer:r-0001"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Api]:
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("reads")) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def cases(api: Api) -> list[str]:
    """Five cases of CUSTOMER (the first taken through a whole lifecycle), one of another."""
    ids: list[str] = []
    with api.agent("maria") as http:
        for n in range(5):
            body = open_case_body(CUSTOMER, subject=f"Case {n}")
            assert http.post("/v1/commands", json=body).status_code == 201
            ids.append(body["aggregate_id"])
        first = ids[0]
        for body in (
            command("Acknowledge", first),
            command("Assign", first, agent_id="agent:maria"),
            command("TakeResponsibility", first),
            command("Escalate", first, to_agent_id="agent:lead", reason="needs authority"),
            command("ApplyFix", first, kind="fix", summary="Replaced the part"),
            command("Resolve", first, resolution="Part replaced"),
        ):
            answer = http.post("/v1/commands", json=body)
            assert answer.status_code == 200, answer.text
        other = open_case_body("customer:r-0002")
        assert http.post("/v1/commands", json=other).status_code == 201
    ids.append(other["aggregate_id"])
    wait_for(
        lambda: (
            api.agent().get(f"/v1/cases/{first}").json().get("status") == "resolved"
            and api.agent().get(f"/v1/cases/{ids[-1]}").status_code == 200
        ),
        what="projected cases",
    )
    return ids


def test_list_pages_with_cursor_and_filters(api: Api, cases: list[str]) -> None:
    seen: list[str] = []
    cursor: str | None = None
    with api.agent() as http:
        while True:
            params: dict[str, Any] = {"customer_id": CUSTOMER, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/cases", params=params).json()
            seen += [item["case_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(cases[:5])
        assert len(seen) == len(set(seen))
        resolved = http.get("/v1/cases", params={"status": "resolved"}).json()["items"]
        assert [c["case_id"] for c in resolved] == [cases[0]]
        bad = http.get("/v1/cases", params={"cursor": "garbage"})
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == "cursor"


def test_customer_sees_only_its_own_cases(api: Api, cases: list[str]) -> None:
    with api.customer("r-0001") as mine:
        listed = mine.get("/v1/cases").json()["items"]
        assert {c["case_id"] for c in listed} == set(cases[:5])
        assert mine.get(f"/v1/cases/{cases[0]}").status_code == 200
        assert mine.get(f"/v1/cases/{cases[-1]}").status_code == 404  # not 403
        assert mine.get(f"/v1/cases/{cases[-1]}/history").status_code == 404
        assert (
            mine.get("/v1/cases", params={"customer_id": "customer:r-0002"}).json()["items"] == []
        )


def test_case_by_reference_with_etag(api: Api, cases: list[str]) -> None:
    with api.agent() as http:
        by_id = http.get(f"/v1/cases/{cases[0]}")
        reference = by_id.json()["reference"]
        by_ref = http.get(f"/v1/cases/{reference}")
        assert by_ref.json()["case_id"] == cases[0]
        tag = by_id.headers["ETag"]
        assert tag == f'"{by_id.json()["version"]}"'
        assert http.get(f"/v1/cases/{cases[0]}", headers={"If-None-Match": tag}).status_code == 304
        assert http.get(f"/v1/cases/{uuid.uuid4()}").status_code == 404
        assert http.get("/v1/cases/SR-0000-0000-0000").status_code == 404


def test_history_as_of_and_responsibility(api: Api, cases: list[str]) -> None:
    with api.agent() as http:
        history = http.get(f"/v1/cases/{cases[0]}/history").json()
        versions = [e["version"] for e in history["events"]]
        assert versions == list(range(1, len(versions) + 1))
        at = history["events"][2]["occurred_at"]
        assert http.get(f"/v1/cases/{cases[0]}/history", params={"as_of": at}).status_code == 403
    auditor = api.client(api.token("auditor:ann", Role.AUDITOR))
    with auditor:
        then = auditor.get(f"/v1/cases/{cases[0]}/history", params={"as_of": at}).json()
        assert [e["version"] for e in then["events"]] == versions[: len(then["events"])]
        assert "state" in then
        now = auditor.get(f"/v1/cases/{cases[0]}/responsibility").json()
        assert now["responsible"]["agent_id"] == "agent:lead"
        roles = {interval["role"] for interval in now["trail"]}
        assert roles == {"assignee", "responsible", "escalation"}
        verified = auditor.get("/v1/audit/verify", params={"case_id": cases[0]}).json()
        assert verified["ok"] is True
        assert verified["events"] == len(versions)


def test_stream_delivers_in_version_order_and_resumes(api: Api, cases: list[str]) -> None:
    case_id = cases[1]
    received: list[tuple[int, str]] = []

    def listen(last_event_id: str | None, want: int) -> None:
        headers = {"Authorization": f"Bearer {api.token('agent:maria', Role.AGENT)}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with httpx.stream(
            "GET", f"{api.base_url}/v1/cases/{case_id}/stream", headers=headers, timeout=30
        ) as stream:
            event_id: int | None = None
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: ") and event_id is not None:
                    received.append((event_id, json.loads(line[6:])["type"]))
                    if len(received) >= want:
                        return

    listener = threading.Thread(target=listen, args=(None, 3))
    listener.start()
    with api.agent() as http:
        for body in (
            command("Acknowledge", case_id),
            command("Assign", case_id, agent_id="agent:maria"),
        ):
            assert http.post("/v1/commands", json=body).status_code == 200
    listener.join(timeout=30)
    assert received == [(1, "CaseOpened"), (2, "CaseAcknowledged"), (3, "CaseAssigned")]
    received.clear()
    listen("2", 1)
    assert received == [(3, "CaseAssigned")]


def test_reports_queues_and_root_causes(api: Api, cases: list[str]) -> None:
    lead = api.client(api.token("agent:lead", Role.LEAD))
    with lead:
        assert lead.get("/v1/queues/follow-ups").status_code == 200
        for by in ("root-cause", "topic", "customer", "known-answer"):
            got = lead.get("/v1/reports/repeat-issues", params={"by": by})
            assert got.status_code == 200, got.text
        metrics = lead.get("/v1/reports/metrics").json()
        assert metrics["total"]["opened"] >= 6
        root_cause = str(uuid.uuid4())
        identified = lead.post(
            "/v1/commands",
            json={
                "type": "IdentifyRootCause",
                "aggregate_id": root_cause,
                "payload": {"title": "Auto-update bricks routers", "description": "v2.1"},
            },
        )
        assert identified.status_code == 201, identified.text
        found = wait_for(
            lambda: (r := lead.get(f"/v1/root-causes/{root_cause}")).status_code == 200 and r,
            what="projected root cause",
        )
        assert found.json()["root_cause"]["title"] == "Auto-update bricks routers"
    with api.agent() as http:
        assert http.get("/v1/reports/metrics").status_code == 403  # leads read metrics


def test_event_feed_pages_the_log_exactly_once(api: Api, cases: list[str]) -> None:
    settings = api.isolated.settings
    topic = settings.topic("events")
    reader = committed_reader(settings, Component.AUDITOR)
    try:
        on_log = sorted(
            (record.partition, record.offset)
            for p in sorted(reader.partitions_for_topic(topic) or ())
            for batch in read_to_end(reader, TopicPartition(topic, p), 0)
            for record in batch
        )
    finally:
        reader.close()
    analyst = api.client(api.token("analyst:bo", Role.ANALYST))
    fed: list[tuple[int, int]] = []
    after: str | None = None
    with analyst:
        for _ in range(1000):
            params: dict[str, Any] = {"limit": 7}
            if after:
                params["after"] = after
            page = analyst.get("/v1/events", params=params).json()
            fed += [(e["partition"], e["offset"]) for e in page["events"]]
            after = page["next_cursor"]
            if page["end_of_stream"]:
                break
        assert len(fed) == len(set(fed))  # each once
        assert sorted(fed) == on_log  # exactly the log's events (nothing is written meanwhile)
        again = analyst.get("/v1/events", params={"after": after}).json()
        assert again["end_of_stream"] is True
        assert again["events"] == []


def test_health_endpoints_need_no_token(api: Api) -> None:
    with api.client() as anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"
        ready = anonymous.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
        assert anonymous.get("/v1/cases").status_code == 401
        assert anonymous.get("/openapi.json").status_code == 200
