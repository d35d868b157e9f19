"""Every role against every endpoint and every command type, through the real API.

The expected table is written out here from design section 8 (not read from the policy
module), so a policy change that lets a role do more, or less, fails this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.auth import Role
from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, open_case_body, running_api, wait_for

CUSTOMER = "customer:z-0001"
ROOT_CAUSE_COMMANDS = {
    "IdentifyRootCause", "AttachCase", "PlanPreventiveAction", "CompletePreventiveAction",
    "VerifyFix", "ReopenRootCause",
}  # fmt: skip
ADMIN_COMMANDS = {"EraseSubject"}
SYSTEM_COMMANDS = {"UndoRootCauseLink"}  # the writer's compensation: 403 for every role
CASE_COMMANDS = set(COMMAND_PAYLOADS) - ROOT_CAUSE_COMMANDS - ADMIN_COMMANDS - SYSTEM_COMMANDS
LEAD_CASE_COMMANDS = {"WaiveRootCause"}  # ruling out a root cause: leads and admins only
CUSTOMER_COMMANDS = {"OpenCase", "RecordContact", "RecordFollowUp", "RateSatisfaction"}
EVERY = set(Role)
STAFF_READERS = {Role.AGENT, Role.LEAD, Role.AUDITOR, Role.ADMIN}
CASE_READERS = STAFF_READERS | {Role.CUSTOMER, Role.INTEGRATION}
WRITERS = {Role.CUSTOMER, Role.AGENT, Role.LEAD, Role.INTEGRATION, Role.ADMIN}

READS: dict[str, set[Role]] = {
    "GET /v1/cases": CASE_READERS,
    "GET /v1/cases/{case}": CASE_READERS,
    "GET /v1/cases/{case}/history": CASE_READERS,
    "GET /v1/cases/{case}/history?as_of": {Role.AUDITOR, Role.ADMIN},
    "GET /v1/cases/{case}/responsibility": {Role.AUDITOR, Role.ADMIN},
    "GET /v1/cases/{case}/stream": CASE_READERS,
    "GET /v1/root-causes/{rc}": STAFF_READERS,
    "GET /v1/queues/follow-ups": STAFF_READERS,
    "GET /v1/reports/repeat-issues": STAFF_READERS | {Role.ANALYST},
    "GET /v1/reports/metrics": {Role.LEAD, Role.AUDITOR, Role.ANALYST, Role.ADMIN},
    "GET /v1/audit/verify": {Role.AUDITOR, Role.ADMIN},
    "GET /v1/events": {Role.AUDITOR, Role.ANALYST, Role.ADMIN},
    "GET /v1/commands/{command}": WRITERS,
    "POST /v1/contacts": WRITERS,
    "GET /v1/privacy/subjects/{customer}": {Role.ADMIN},
    "GET /v1/privacy/subjects/{customer}/export": {Role.ADMIN},
    "POST /v1/privacy/subjects/{erasable}/erasure": {Role.ADMIN},
}
COMMANDS: dict[Role, set[str]] = {
    Role.CUSTOMER: CUSTOMER_COMMANDS,
    Role.AGENT: CASE_COMMANDS - LEAD_CASE_COMMANDS,
    Role.LEAD: set(COMMAND_PAYLOADS) - ADMIN_COMMANDS - SYSTEM_COMMANDS,
    Role.INTEGRATION: set(),  # only on behalf of a customer: see ON_BEHALF
    Role.AUDITOR: set(),
    Role.ANALYST: set(),
    Role.ADMIN: set(COMMAND_PAYLOADS) - SYSTEM_COMMANDS,
}
ON_BEHALF = CUSTOMER_COMMANDS


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Api]:
    with (
        isolated_corner(stack) as corner,
        running_api(corner, tmp_path_factory.mktemp("authz")) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def case_id(api: Api) -> str:
    body = open_case_body(CUSTOMER)
    with api.agent() as http:
        assert http.post("/v1/commands", json=body).status_code == 201
        wait_for(lambda: http.get(f"/v1/cases/{body['aggregate_id']}").status_code == 200)
    return str(body["aggregate_id"])


def _client(api: Api, role: Role) -> httpx.Client:
    if role is Role.CUSTOMER:
        return api.client(api.token(CUSTOMER, role, customer_id=CUSTOMER))
    return api.client(api.token(f"{role.value}:z", role))


def _read(http: httpx.Client, endpoint: str, case_id: str) -> int:
    method, _, target = endpoint.partition(" ")
    path, _, query = target.partition("?")
    path = path.format(
        case=case_id,
        rc=uuid.uuid4(),
        command=uuid.uuid4(),
        customer=CUSTOMER,
        erasable=f"customer:z-{uuid.uuid4().hex[:8]}",  # not the module's customer
    )
    params: dict[str, Any] = {}
    if query == "as_of":
        params["as_of"] = datetime.now(UTC).isoformat()
    if path == "/v1/audit/verify":
        params["case_id"] = case_id
    if method == "POST" and path.endswith("/erasure"):
        return http.post(path, json={"reason": "ticket 1"}).status_code
    if method == "POST":
        body = {"customer_id": CUSTOMER, "channel": "web", "message": "hello"}
        return http.post(path, json=body).status_code
    if path.endswith("/stream"):
        with http.stream("GET", path, params=params) as streamed:
            return streamed.status_code
    return http.get(path, params=params).status_code


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_endpoint_by_role(api: Api, case_id: str, role: Role) -> None:
    wrong: list[str] = []
    with _client(api, role) as http:
        for endpoint, allowed in READS.items():
            status = _read(http, endpoint, case_id)
            if (status == 403) == (role in allowed):
                wrong.append(f"{endpoint}: {status}")
    assert wrong == [], f"{role.value}: {wrong}"


def _payload(kind: str) -> dict[str, Any]:
    if kind == "OpenCase":
        return open_case_body(CUSTOMER)["payload"]
    if kind == "RecordContact":
        return {"direction": "inbound", "channel": "web", "summary": "hi"}
    return {}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_command_type_by_role(api: Api, case_id: str, role: Role) -> None:
    wrong: list[str] = []
    with _client(api, role) as http:
        for kind in sorted(COMMAND_PAYLOADS):
            body = {"type": kind, "aggregate_id": str(uuid.uuid4()), "payload": _payload(kind)}
            status = http.post("/v1/commands", json=body).status_code
            if (status == 403) == (kind in COMMANDS[role]):
                wrong.append(f"{kind}: {status}")
            if role is Role.INTEGRATION:
                acting = http.post("/v1/commands", json={**body, "on_behalf_of": CUSTOMER})
                if (acting.status_code == 403) == (kind in ON_BEHALF):
                    wrong.append(f"{kind} on behalf: {acting.status_code}")
    assert wrong == [], f"{role.value}: {wrong}"


def test_customer_reading_another_customers_case_gets_404(api: Api, case_id: str) -> None:
    other = api.client(api.token("customer:z-0002", Role.CUSTOMER, customer_id="customer:z-0002"))
    with other:
        for path in ("", "/history", "/stream"):
            assert other.get(f"/v1/cases/{case_id}{path}").status_code == 404
        body = {"type": "RateSatisfaction", "aggregate_id": case_id, "payload": {"score": 5}}
        assert other.post("/v1/commands", json=body).status_code == 404
        opening = open_case_body(CUSTOMER)
        assert other.post("/v1/commands", json=opening).status_code == 403


def test_an_agent_may_not_waive_a_root_cause_but_a_lead_may(api: Api, case_id: str) -> None:
    """Issue 21: WaiveRootCause is for leads (and admins); an agent's is refused, 403."""
    body = {"type": "WaiveRootCause", "aggregate_id": case_id, "payload": {"reason": "one-off"}}
    with _client(api, Role.AGENT) as agent:
        refused = agent.post("/v1/commands", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "WaiveRootCause" in refused.json()["error"]["message"]
    with _client(api, Role.LEAD) as lead:
        decided = lead.post("/v1/commands", json=body)
    # the lead may: the case (open, not resolved) refuses it by its own rule
    assert decided.status_code == 409
    assert decided.json()["error"]["code"] == "not_resolved"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer spt_nope_nope", "Bearer not-a-token"],
)
def test_missing_or_bad_tokens_are_401_with_a_challenge(
    api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with api.client(**headers) as http:
        answer = http.get("/v1/cases")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_revoked_and_expired_api_tokens_are_401(api: Api) -> None:
    from datetime import timedelta

    from supportes.auth import create_token, revoke_token
    from supportes.db.connect import connect

    conn = connect(api.isolated.dsn)
    try:
        revoked = create_token(conn, "agent:gone", [Role.AGENT])
        expiring = create_token(
            conn, "agent:soon", [Role.AGENT], expires_at=datetime.now(UTC) + timedelta(seconds=2)
        )
        conn.commit()
        with api.client(revoked.secret) as http:
            assert http.get("/v1/cases").status_code == 200
            assert http.get("/v1/cases").status_code == 200  # answered from the token cache
            revoke_token(conn, revoked.token_id)
            conn.commit()
            # The cache forgets the token when PostgreSQL's notification arrives: a moment.
            wait_for(
                lambda: http.get("/v1/cases").status_code == 401, timeout_s=2, what="revocation"
            )
        with api.client(expiring.secret) as http:
            assert http.get("/v1/cases").status_code == 200
            wait_for(lambda: http.get("/v1/cases").status_code == 401, what="expiry")
    finally:
        conn.close()


def test_a_flood_from_one_principal_is_429_with_retry_after(
    tmp_path_factory: pytest.TempPathFactory, stack: Settings
) -> None:
    with (
        isolated_corner(stack) as corner,
        running_api(
            corner,
            tmp_path_factory.mktemp("flood"),
            extra_env={"SUPPORTES_API_RATE_PER_S": "1", "SUPPORTES_API_RATE_BURST": "5"},
        ) as api,
    ):
        with api.agent() as http:
            statuses = [http.get("/v1/cases").status_code for _ in range(8)]
            assert statuses[:5] == [200] * 5
            assert 429 in statuses[5:]
            limited = http.get("/v1/cases")
            assert limited.status_code == 429
            assert int(limited.headers["Retry-After"]) >= 1
        with api.agent("other") as other:  # another principal is not held back
            assert other.get("/v1/cases").status_code == 200
