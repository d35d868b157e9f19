"""schemathesis over the served OpenAPI document: no 5xx, and every response fits the schema.

Bounded: ``FUZZ_EXAMPLES`` generated requests per operation (hypothesis, derandomized so a
failure reproduces), against a real uvicorn process, with an admin token (every operation
allowed, so the requests reach the handlers instead of stopping at 403).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from supportes.auth import Role
from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, running_api

FUZZ_EXAMPLES = int(os.environ.get("SUPPORTES_FUZZ_EXAMPLES", "150"))
SKIPPED = {"/v1/cases/{case}/stream"}  # an endless stream by design; tested on its own
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Api]:
    with (
        isolated_corner(stack) as corner,
        running_api(
            corner,
            tmp_path_factory.mktemp("fuzz"),
            extra_env={"SUPPORTES_API_RATE_PER_S": "100000", "SUPPORTES_API_RESULT_TIMEOUT_S": "5"},
        ) as running,
    ):
        yield running


def _operations(api: Api) -> list[object]:
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    schema.config.update(base_url=api.base_url)
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path not in SKIPPED]


def test_schema_lists_every_operation(api: Api) -> None:
    paths = {op.path for op in _operations(api)}  # type: ignore[attr-defined]
    assert {"/v1/commands", "/v1/contacts", "/v1/cases", "/v1/events"} <= paths
    assert len(paths) >= 14


def test_fuzzed_requests_get_no_5xx_and_fit_the_schema(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token('admin:fuzz', Role.ADMIN)}"}
    session = requests.Session()
    failures: list[str] = []
    for operation in _operations(api):

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), data=st.data())  # type: ignore[attr-defined]
        def probe(case: schemathesis.Case, data: st.DataObject) -> None:
            response = case.call(session=session, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            probe()
        except Exception as exc:  # collect every operation's first failure
            failures.append(f"{operation.verbose_name}: {str(exc)[:2000]}")  # type: ignore[attr-defined]
    assert failures == [], "\n\n".join(failures)
