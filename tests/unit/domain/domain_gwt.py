"""Given/when/then helpers for the domain tests (pure, deterministic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from supportes.aggregates import (
    AnyAggregate,
    Decision,
    Rejection,
    decide,
    last_hash_of,
    parse_command,
    state_of,
)
from supportes.aggregates.values import rfc3339

NS = UUID("8f0f7a51-4c1c-4c1e-9f39-6a3c1f1d2b10")
CASE_ID = uuid5(NS, "case")
ROOT_CAUSE_ID = uuid5(NS, "root-cause")
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
FAR_FUTURE = "2031-01-01T00:00:00Z"

AGENT = {"id": "agent:maria", "kind": "agent"}
OTHER_AGENT = {"id": "agent:tom", "kind": "agent"}
CUSTOMER = {"id": "cust:42", "kind": "customer"}
SYSTEM = {"id": "system:supportes", "kind": "system"}

OPEN_CASE: dict[str, Any] = {
    "customer_id": "cust:42",
    "channel": "email",
    "subject": "Router keeps rebooting",
    "description": "Since the update the router reboots every hour.",
}
IDENTIFY: dict[str, Any] = {"title": "Firmware 2.1 watchdog", "description": "Watchdog too eager"}

VALID_PAYLOADS: dict[str, dict[str, Any]] = {
    "OpenCase": OPEN_CASE,
    "RecordContact": {"direction": "outbound", "channel": "phone", "summary": "Called back"},
    "Acknowledge": {},
    "Assign": {"agent_id": "agent:maria"},
    "TakeResponsibility": {},
    "Escalate": {"to_agent_id": "agent:lead", "reason": "needs a refund"},
    "UpdateCustomer": {"channel": "email", "message": "Still on it"},
    "ScheduleCallback": {"due_at": FAR_FUTURE},
    "CompleteCallback": {"outcome": "talked it through"},
    "ApplyFix": {"kind": "workaround", "summary": "disable auto-update"},
    "Resolve": {"resolution": "rolled back firmware"},
    "LinkRootCause": {"root_cause_id": str(ROOT_CAUSE_ID)},
    "UndoRootCauseLink": {
        "root_cause_id": str(ROOT_CAUSE_ID),
        "refusal": "not_found",
        "attach_command_id": "3f8e9a52-6f5d-4b0e-9a51-0c2d7e4b9a10",
    },
    "ScheduleFollowUp": {"due_at": FAR_FUTURE},
    "RecordFollowUp": {"outcome": "confirmed"},
    "WaiveFollowUp": {"reason": "customer asked not to be contacted"},
    "WaiveRootCause": {"reason": "one-off: customer error"},
    "RateSatisfaction": {"score": 5},
    "Reopen": {"reason": "problem is back"},
    "Close": {},
    "NoteSuggestion": {"suggestion": "warn before auto-updates"},
    "IdentifyRootCause": IDENTIFY,
    "AttachCase": {"case_id": str(CASE_ID)},
    "PlanPreventiveAction": {
        "action_id": "a1",
        "kind": "bug_fix",
        "description": "relax watchdog",
        "owner_id": "agent:dev",
    },
    "CompletePreventiveAction": {"action_id": "a1", "evidence": "release 2.2 notes"},
    "VerifyFix": {},
    "ReopenRootCause": {"reason": "seen again"},
    "EraseSubject": {"customer_id": "cust:42", "key_fingerprints": ["ab" * 32]},
}
ROOT_CAUSE_COMMANDS = frozenset(
    {
        "IdentifyRootCause",
        "AttachCase",
        "PlanPreventiveAction",
        "CompletePreventiveAction",
        "VerifyFix",
        "ReopenRootCause",
    }
)
SUBJECT_COMMANDS = frozenset({"EraseSubject"})
CASE_COMMANDS = frozenset(VALID_PAYLOADS) - ROOT_CAUSE_COMMANDS - SUBJECT_COMMANDS

Step = str | tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]
"""A given step: a command type (valid payload), ``(type, payload)`` or with envelope extras."""


@dataclass
class Outcome:
    """The result of ``when``: a decision or a rejection."""

    raw: dict[str, Any]
    decision: Decision | None
    rejection: Rejection | None

    def then(self, *types: str) -> list[dict[str, Any]]:
        """Assert acceptance with exactly these event types; return their payloads."""
        assert self.rejection is None, f"rejected: {self.rejection!r}"
        assert self.decision is not None
        assert [e["type"] for e in self.decision.events] == list(types)
        return [e["payload"] for e in self.decision.events]

    def rejected(self, code: str, field: str | None = None) -> Rejection:
        """Assert a rejection with this code and field."""
        assert self.rejection is not None, (
            f"accepted: {[e['type'] for e in self.decision.events] if self.decision else None}"
        )
        assert (self.rejection.code, self.rejection.field) == (code, field), repr(self.rejection)
        return self.rejection


@dataclass
class Scenario:
    """One aggregate's history, built command by command."""

    aggregate_id: UUID = CASE_ID
    audit_key: bytes | None = None
    aggregate: AnyAggregate | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    clock: datetime = T0
    count: int = 0

    def command(
        self,
        type_: str,
        payload: dict[str, Any] | None = None,
        **envelope: Any,
    ) -> dict[str, Any]:
        """A raw command envelope issued 5 minutes after the previous one."""
        self.count += 1
        self.clock += timedelta(minutes=5)
        raw: dict[str, Any] = {
            "command_id": str(uuid5(self.aggregate_id, f"command-{self.count}")),
            "type": type_,
            "aggregate_id": str(self.aggregate_id),
            "expected_version": None,
            "issued_at": rfc3339(self.clock),
            "actor": AGENT,
            "payload": VALID_PAYLOADS.get(type_, {}) if payload is None else payload,
        }
        raw.update(envelope)
        return raw

    def given(self, *steps: Step) -> Scenario:
        """Apply accepted commands (a failure here is a broken test setup)."""
        for step in steps:
            if isinstance(step, str):
                outcome = self.when(step)
            elif len(step) == 2:
                outcome = self.when(step[0], step[1])
            else:
                outcome = self.when(step[0], step[1], **step[2])
            assert outcome.rejection is None, f"given {step!r}: {outcome.rejection!r}"
        return self

    def when(self, type_: str, payload: dict[str, Any] | None = None, **envelope: Any) -> Outcome:
        """Submit one command; rejected commands must leave the aggregate unchanged."""
        raw = self.command(type_, payload, **envelope)
        return self.submit(raw)

    def submit(self, raw: dict[str, Any]) -> Outcome:
        """Submit a raw envelope as is."""
        before = None if self.aggregate is None else state_of(self.aggregate)
        try:
            command = parse_command(raw)
            decision = decide(
                command,
                self.aggregate,
                last_hash=last_hash_of(self.aggregate),
                audit_key=self.audit_key,
            )
        except Rejection as rejection:
            after = None if self.aggregate is None else state_of(self.aggregate)
            assert after == before, "a rejected command changed the aggregate"
            return Outcome(raw, None, rejection)
        after = None if self.aggregate is None else state_of(self.aggregate)
        assert after == before, "decide mutated the aggregate it was given"
        self.aggregate = decision.aggregate
        self.events.extend(decision.events)
        return Outcome(raw, decision, None)

    @property
    def state(self) -> dict[str, Any]:
        """``state_of`` the current aggregate."""
        assert self.aggregate is not None
        return state_of(self.aggregate)


def case(*steps: Step) -> Scenario:
    """A case scenario given these steps (``OpenCase`` is prepended)."""
    return Scenario(CASE_ID).given("OpenCase", *steps)


def root_cause(*steps: Step) -> Scenario:
    """A root-cause scenario given these steps (``IdentifyRootCause`` is prepended)."""
    return Scenario(ROOT_CAUSE_ID).given("IdentifyRootCause", *steps)


RESOLVED = ("Acknowledge", "Assign", "Resolve")
CLOSABLE = (*RESOLVED, "RecordFollowUp")
CLOSED = (*CLOSABLE, "Close")
