"""The erasure endpoint while a dependency is down: PostgreSQL out of reach is 503 and nothing
is sent; Kafka out of reach (after the keys went) is 503 saying the keys are destroyed and that
a retry finishes the erasure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from supportes.api.errors import ApiError
from supportes.api.routes import privacy
from supportes.api.submitter import KafkaUnavailableError
from supportes.auth import Principal, Role
from supportes.errors import DatabaseUnavailableError

CUSTOMER = "customer:outage-1"
ADMIN = Principal("admin:erin", frozenset({Role.ADMIN}))


class _Submitter:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def submit(self, envelope: dict[str, Any]) -> Any:
        self.sent.append(envelope)
        raise KafkaUnavailableError("no broker")


def _request(database: Any, submitter: _Submitter) -> Any:
    context = SimpleNamespace(
        sealer=SimpleNamespace(keys=object()),
        database=database,
        submitter=submitter,
        settings=SimpleNamespace(api_result_timeout_s=1.0, topic=lambda name: f"t.{name}"),
    )
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(context=context)))


def _erase(request: Any) -> ApiError:
    body = privacy.ErasureBody(reason="ticket 15")
    with pytest.raises(ApiError) as refused:
        asyncio.run(privacy.subject_erasure(ADMIN, request, CUSTOMER, body))
    return refused.value


class _Down:
    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        raise DatabaseUnavailableError("connection refused")
        yield


class _Up:
    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        yield object()


def test_postgresql_down_is_503_and_nothing_is_sent() -> None:
    submitter = _Submitter()
    refused = _erase(_request(_Down(), submitter))
    assert (refused.status, refused.code) == (503, "unavailable")
    assert submitter.sent == []


def test_kafka_down_after_the_keys_is_503_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    destroyed: list[str] = []

    def destroy_keys(keys: Any, conn: Any, subject: str, reason: str) -> tuple[bool, list[str]]:
        destroyed.append(subject)
        return True, ["0" * 64]

    monkeypatch.setattr(privacy, "destroy_keys", destroy_keys)
    submitter = _Submitter()
    refused = _erase(_request(_Up(), submitter))
    assert (refused.status, refused.code) == (503, "unavailable")
    assert "keys are destroyed" in refused.message
    assert "retry" in refused.message
    assert destroyed == [CUSTOMER]
    assert [e["type"] for e in submitter.sent] == ["EraseSubject"]
    assert submitter.sent[0]["payload"]["key_fingerprints"] == ["0" * 64]
    assert submitter.sent[0]["actor"]["id"] == ADMIN.id
