"""Two full ``supportes serve`` processes (writer instances 0 and 1, projectors in one group, an
API each) on one deployment: the API is stateless across replicas (a command sent through one
is read back through the other, tokens work on both), and when one process is killed with -9
the other takes over its partitions and the case goes on through the survivor."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Isolated
from tests.e2e.api_support import Api, command, open_case_body, running_api, wait_for

SESSION_MS = "6000"
"""Groups notice a killed process within this (default 45 s)."""


@pytest.fixture
def replicas(isolated: Isolated, tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    """Replicas 0 and 1 of one deployment (each a whole ``supportes serve``)."""
    for instance in ("0", "1"):
        (tmp_path / f"replica-{instance}").mkdir()
    with (
        running_api(isolated, tmp_path / "replica-0", extra_env=_env("0")) as first,
        running_api(isolated, tmp_path / "replica-1", extra_env=_env("1")) as second,
    ):
        yield first, second


def _env(instance: str) -> dict[str, str]:
    return {
        "SUPPORTES_WRITER_INSTANCE": instance,
        "SUPPORTES_GROUP_SESSION_TIMEOUT_MS": SESSION_MS,
    }


def test_a_command_through_one_replica_reads_back_through_the_other(
    replicas: tuple[Api, Api],
) -> None:
    first, second = replicas
    body = open_case_body("customer:r-0001")
    with first.agent() as via_first, second.agent() as via_second:
        posted = via_first.post("/v1/commands", json=body)
        assert posted.status_code == 201, posted.text
        command_id = posted.json()["command_id"]
        read = wait_for(
            lambda: (r := via_second.get(f"/v1/commands/{command_id}")).status_code == 200 and r,
            what="the result through the other replica",
        )
        assert read.json() == posted.json()
        case_id = body["aggregate_id"]
        acknowledged = via_second.post(
            "/v1/commands", json=command("Acknowledge", case_id, channel="email")
        )
        assert acknowledged.status_code == 200, acknowledged.text
        for http in (via_first, via_second):
            view = wait_for(
                lambda http=http: (
                    (r := http.get(f"/v1/cases/{case_id}")).status_code == 200
                    and r.json().get("version") == 2
                    and r
                ),
                what="the case at version 2",
            )
            assert view.json()["status"] == "acknowledged"


def test_the_survivor_takes_over_when_a_replica_is_killed(replicas: tuple[Api, Api]) -> None:
    first, second = replicas
    cases = [open_case_body(f"customer:r-{n:04d}") for n in range(12)]
    with second.agent() as http:
        for body in cases:  # over every partition: both writers own some
            assert http.post("/v1/commands", json=body).status_code == 201
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    with second.agent() as http:
        for body in cases:  # partitions of the dead writer included, once the group moves them
            case_id = str(body["aggregate_id"])
            ack = command("Acknowledge", case_id, channel="email")
            key = {"Idempotency-Key": f"ack-{case_id}"}  # a retry after a 503 is one command
            answer = wait_for(
                lambda ack=ack, key=key: (
                    (r := http.post("/v1/commands", json=ack, headers=key)).status_code == 200 and r
                ),
                timeout_s=90,
                what="an acknowledgement through the survivor",
            )
            assert answer.json()["status"] == "accepted"
        for body in cases:
            view = wait_for(
                lambda body=body: (
                    (r := http.get(f"/v1/cases/{body['aggregate_id']}")).status_code == 200
                    and r.json().get("version") == 2
                    and r
                ),
                timeout_s=60,
                what="the survivor's projector at version 2",
            )
            assert view.json()["status"] == "acknowledged"
