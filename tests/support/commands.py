"""Building command envelopes in tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def command(
    type_: str,
    aggregate_id: str,
    payload: dict[str, Any] | None = None,
    *,
    minutes: float = 0,
    expected_version: int | None = None,
    actor: str = "agent:maria",
    command_id: str | None = None,
) -> dict[str, Any]:
    """A command envelope issued ``minutes`` after T0."""
    kind = "customer" if actor.startswith("customer:") else "agent"
    return {
        "command_id": command_id or str(uuid.uuid4()),
        "type": type_,
        "aggregate_id": aggregate_id,
        "expected_version": expected_version,
        "issued_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "actor": {"id": actor, "kind": kind},
        "payload": payload or {},
    }


def open_case(case_id: str, minutes: float = 0) -> dict[str, Any]:
    """An OpenCase command with a valid payload."""
    return command(
        "OpenCase",
        case_id,
        {
            "customer_id": "customer:1",
            "channel": "email",
            "subject": "Printer jams",
            "description": "It jams on every second page.",
        },
        minutes=minutes,
        actor="customer:1",
    )
