"""A command with personal text while PostgreSQL (the customers' keys) is out of reach: 503,
and nothing is handed on to be sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest

from supportes.aggregates import parse_command
from supportes.api.commanding import sealed
from supportes.api.context import ApiContext
from supportes.api.errors import ApiError
from supportes.errors import DatabaseUnavailableError
from supportes.ops.submission import AttestedCommand
from tests.support.commands import open_case


class _Unreachable:
    def seal(self, envelope: dict[str, Any], *, checked: bool = False) -> dict[str, Any]:
        raise DatabaseUnavailableError("connection refused")


def test_an_unreachable_key_store_is_503_and_sends_nothing() -> None:
    envelope = open_case(str(uuid.uuid4()))
    context = cast(ApiContext, type("Context", (), {"sealer": _Unreachable()})())
    with pytest.raises(ApiError) as refused:
        asyncio.run(sealed(context, AttestedCommand(envelope, parse_command(envelope))))
    assert refused.value.status == 503
    assert refused.value.code == "unavailable"
