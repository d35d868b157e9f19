"""The API's memory of each case's customer: bounded, least recently used forgotten first."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportes.api.case_owners import CaseOwners


def test_remembers_and_forgets_the_least_recently_used() -> None:
    owners = CaseOwners(capacity=2)
    first, second, third = uuid4(), uuid4(), uuid4()
    owners.remember(first, "customer:1")
    owners.remember(second, "customer:2")
    assert owners.get(first) == "customer:1"  # first is now the most recently used
    owners.remember(third, "customer:3")
    assert owners.get(second) is None
    assert owners.get(first) == "customer:1"
    assert owners.get(third) == "customer:3"
    assert len(owners) == 2


def test_an_unknown_case_is_none() -> None:
    assert CaseOwners().get(uuid4()) is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        CaseOwners(capacity=0)


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5)), max_size=200))
def test_never_holds_more_than_its_capacity_nor_a_wrong_customer(
    steps: list[tuple[int, int]],
) -> None:
    owners = CaseOwners(capacity=5)
    truth: dict[UUID, str] = {}
    for case, customer in steps:
        case_id = UUID(int=case)
        name = truth.setdefault(case_id, f"customer:{customer}")  # a case's customer is fixed
        owners.remember(case_id, name)
        assert len(owners) <= 5
    for case_id, name in truth.items():
        assert owners.get(case_id) in (None, name)


def _opened(customer: str, *, version: int = 1, status: str = "accepted") -> tuple[Any, Any]:
    from supportes.auth import Principal
    from supportes.auth.principal import Role
    from supportes.ops.submission import CommandRequest, attest

    agent = Principal("agent:maria", frozenset({Role.AGENT}))
    request = CommandRequest(
        type="OpenCase",
        aggregate_id=uuid4(),
        payload={
            "customer_id": customer,
            "channel": "email",
            "subject": "Printer on fire",
            "description": "It smokes.",
        },
    )
    attested = attest(agent, request, command_id=uuid4(), now=datetime.now(UTC))
    result = {
        "status": status,
        "aggregate_id": str(request.aggregate_id),
        "events": [{"event_id": "e", "type": "CaseOpened", "version": version}],
    }
    return attested, result


def test_a_case_this_api_opened_is_remembered_with_its_customer() -> None:
    from supportes.api.commanding import remember_opened_case

    context = SimpleNamespace(case_owners=CaseOwners())
    attested, result = _opened("customer:00042")
    remember_opened_case(context, attested, result)  # type: ignore[arg-type]
    assert context.case_owners.get(attested.command.aggregate_id) == "customer:00042"


@pytest.mark.parametrize(
    ("version", "status"), [(2, "accepted"), (1, "rejected")], ids=["not-the-opening", "rejected"]
)
def test_nothing_is_remembered_unless_this_command_opened_the_case(
    version: int, status: str
) -> None:
    from supportes.api.commanding import remember_opened_case

    context = SimpleNamespace(case_owners=CaseOwners())
    attested, result = _opened("customer:00042", version=version, status=status)
    remember_opened_case(context, attested, result)  # type: ignore[arg-type]
    assert len(context.case_owners) == 0
