"""Erasure through the API (design section 9, issue 16): an admin erases a customer with
``POST /v1/privacy/subjects/{customer_id}/erasure`` on a real ``supportes serve`` (Kafka,
PostgreSQL, uvicorn). The keys go first, ``SubjectErased`` is written as the admin, the status
becomes complete, the customer's text reads ``[erased]`` while another customer's is intact,
new personal data for the customer is refused ``subject_erased``, a second erasure changes
nothing, and ``EraseSubject`` cannot be sent around the endpoint (it would leave the keys).
Who else may call it is in ``test_api_authorization``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from supportes.auth import Role
from supportes.db.connect import connect
from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, command, open_case_body, running_api, wait_for

MARK = "Quokka-7f3a"  # a string found nowhere else, in the erased customer's text


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Api]:
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("erasure")) as running,
    ):
        yield running


def _open(http: httpx.Client, customer: str, text: str) -> str:
    body = open_case_body(customer, subject=f"{text} router", description=f"{text} reboots")
    answer = http.post("/v1/commands", json=body)
    assert answer.status_code == 201, answer.text
    case_id = str(body["aggregate_id"])
    wait_for(lambda: http.get(f"/v1/cases/{case_id}").status_code == 200, what="the case view")
    return case_id


def _case(http: httpx.Client, case_id: str) -> dict[str, Any]:
    answer = http.get(f"/v1/cases/{case_id}")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _erase(admin: httpx.Client, customer: str, reason: str = "ticket 11") -> httpx.Response:
    return admin.post(f"/v1/privacy/subjects/{customer}/erasure", json={"reason": reason})


def test_an_admin_erases_a_customer_through_the_api(api: Api) -> None:
    customer = f"customer:e-{uuid.uuid4().hex[:8]}"
    bystander = f"customer:e-{uuid.uuid4().hex[:8]}"
    admin = api.client(api.token("admin:erin", Role.ADMIN))
    with api.agent() as agent, admin:
        erased_case = _open(agent, customer, MARK)
        kept_case = _open(agent, bystander, "Wombat")
        assert MARK in _case(agent, erased_case)["subject"]

        answer = _erase(admin, customer)
        assert answer.status_code == 202, answer.text
        status = answer.json()
        assert (status["subject"], status["erased_now"], status["live_keys"]) == (customer, True, 0)
        assert status["fenced_keys"] == 1
        location = answer.headers["Location"]
        assert location == f"/v1/privacy/subjects/{customer.replace(':', '%3A')}"
        done = wait_for(
            lambda: (s := admin.get(location).json())["complete"] and s, what="complete erasure"
        )
        assert done["on_log"] is not None
        assert done["projections_behind"] == []

        view = _case(agent, erased_case)
        assert (view["subject"], view["description"]) == ("[erased]", "[erased]")
        assert MARK not in str(view)
        assert _case(agent, kept_case)["subject"] == "Wombat router"

        refused = agent.post(
            "/v1/commands",
            json=command("RecordContact", erased_case, direction="inbound", channel="phone",
                         summary=f"{MARK} called again"),
        )  # fmt: skip
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "subject_erased"

        again = _erase(admin, customer, "ticket 11, asked twice")
        assert again.status_code == 202, again.text
        assert (again.json()["erased_now"], again.json()["complete"]) == (False, True)

    conn = connect(api.isolated.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT envelope->'actor'->>'id', envelope->'payload'->>'customer_id'"
                " FROM event_index.events WHERE type = 'SubjectErased'"
            )
            assert cur.fetchall() == [("admin:erin", customer)]  # once, written as the admin
            cur.execute(
                "SELECT reason FROM privacy.erased_subjects WHERE subject = %s", (customer,)
            )
            assert cur.fetchall() == [("ticket 11",)]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"reason": "r" * 501}, "reason"),
        ({}, "reason"),
        ({"reason": "ok", "customer": "x"}, "customer"),
        ({"reason": "ticket\u0000 12"}, "reason"),
    ],
)
def test_a_bad_erasure_request_names_the_field_and_erases_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    customer = f"customer:e-{uuid.uuid4().hex[:8]}"
    with api.client(api.token("admin:erin", Role.ADMIN)) as admin:
        answer = admin.post(f"/v1/privacy/subjects/{customer}/erasure", json=body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert field in (error["field"] or error["message"])  # a body-wide check names it inside
        assert admin.get(f"/v1/privacy/subjects/{customer}").json()["erased_at"] is None


def test_erase_subject_cannot_go_around_the_endpoint(api: Api) -> None:
    customer = f"customer:e-{uuid.uuid4().hex[:8]}"
    with api.client(api.token("admin:erin", Role.ADMIN)) as admin:
        body = {
            "type": "EraseSubject",
            "aggregate_id": str(uuid.uuid5(uuid.NAMESPACE_URL, customer)),
            "payload": {"customer_id": customer},
        }
        answer = admin.post("/v1/commands", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "type"
        assert "/erasure" in answer.json()["error"]["message"]
        assert admin.get(f"/v1/privacy/subjects/{customer}").json()["erased_at"] is None
