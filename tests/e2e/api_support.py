"""The HTTP API as a real uvicorn process: ``supportes serve`` (writer, projector and API) on a
free loopback port against one test's corner of the shared stack, and API tokens for it."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from supportes.auth import Role, create_token
from supportes.db.connect import connect
from tests.conftest import Isolated
from tests.e2e.cli import free_port, spawn_cli, wait_for_file


@dataclass
class Api:
    """A running API and a way to mint tokens for it."""

    base_url: str
    isolated: Isolated
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, principal_id: str, *roles: Role, customer_id: str | None = None) -> str:
        """An API token (created once per principal and roles) for ``principal_id``."""
        key = f"{principal_id}|{','.join(sorted(r.value for r in roles))}|{customer_id}"
        if key not in self.tokens:
            conn = connect(self.isolated.dsn)
            try:
                issued = create_token(conn, principal_id, roles, customer_id=customer_id)
                conn.commit()
            finally:
                conn.close()
            self.tokens[key] = issued.secret
        return self.tokens[key]

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client for the API, authenticated with ``token`` when given."""
        sent = dict(headers)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=sent, timeout=30.0)

    def agent(self, name: str = "maria") -> httpx.Client:
        """A client authenticated as ``agent:<name>``."""
        return self.client(self.token(f"agent:{name}", Role.AGENT))

    def customer(self, number: str) -> httpx.Client:
        """A client authenticated as ``customer:<number>``."""
        customer = f"customer:{number}"
        return self.client(self.token(customer, Role.CUSTOMER, customer_id=customer))


@contextlib.contextmanager
def running_api(
    isolated: Isolated, tmp_path: Path, *, extra_env: Mapping[str, str] | None = None
) -> Iterator[Api]:
    """``supportes serve`` with its API on a free port; stopped (SIGTERM) afterwards."""
    port = free_port()
    ready = tmp_path / "api.ready"
    log = tmp_path / "serve-api.log"
    env = {**isolated.env(), "SUPPORTES_API_LISTEN": f"127.0.0.1:{port}", **(extra_env or {})}
    process = spawn_cli(
        "serve", "--group-id", isolated.group_id, "--ready-file", str(ready), env=env, log=log
    )
    try:
        wait_for_file(ready, process)
        yield Api(f"http://127.0.0.1:{port}", isolated, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_case_body(customer: str, **payload: Any) -> dict[str, Any]:
    """A ``POST /v1/commands`` body opening a new case for ``customer``."""
    return {
        "type": "OpenCase",
        "aggregate_id": str(uuid.uuid4()),
        "payload": {
            "customer_id": customer,
            "channel": "email",
            "subject": "Router keeps rebooting",
            "description": "Since the update it reboots every hour.",
            **payload,
        },
    }


def command(command_type: str, case_id: str, /, **payload: Any) -> dict[str, Any]:
    """A ``POST /v1/commands`` body of ``command_type`` on ``case_id``."""
    return {"type": command_type, "aggregate_id": case_id, "payload": payload}


def wait_for(check: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
