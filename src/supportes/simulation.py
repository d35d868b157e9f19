"""Realistic synthetic traffic: interleaved case lifecycles that follow design section 4.

Deterministic for a seed (``random.Random``), so benchmarks and tests are repeatable. Each case
runs a script: open, acknowledge, assign, contacts, customer updates, callbacks, sometimes an
escalation, a fix (sometimes a known answer), resolution, follow-up (sometimes "not resolved",
which reopens it), satisfaction and close. Some cases link to a shared pool of root causes, which
plan and complete preventive actions and get verified (later links are recurrences). A small
share of commands break a rule on purpose (acknowledging twice, closing too early), as real
clients do, so rejections are part of the mix.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CHANNELS = ["email", "phone", "chat", "web", "social", "in_person"]
PRODUCTS = ["billing", "mobile-app", "router", "website", "tv-box"]
CATEGORIES = ["outage", "invoice", "setup", "account", "performance"]
PRIORITY_WEIGHTS = {"low": 2, "normal": 6, "high": 2, "urgent": 1}
SUBJECTS = [
    "Cannot log in",
    "Invoice charged twice",
    "Router keeps rebooting",
    "App crashes on start",
    "Slow connection in the evening",
    "Password reset mail never arrives",
    "TV box has no signal",
]
Envelope = dict[str, Any]


@dataclass
class _Case:
    case_id: str
    customer_id: str
    steps: list[Callable[[], Envelope | None]] = field(default_factory=list)


class TrafficGenerator:
    """Yields command envelopes of many interleaved cases; same seed, same stream."""

    def __init__(
        self,
        seed: int = 1,
        *,
        start: datetime | None = None,
        concurrent_cases: int = 200,
        agents: int = 25,
        customers: int = 2_000,
        root_causes: int = 30,
        mistakes: float = 0.02,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = (start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)).astimezone(UTC)
        self.concurrent_cases = concurrent_cases
        self.agents = [f"agent:{n:03d}" for n in range(agents)]
        self.leads = self.agents[: max(1, agents // 5)]
        self.customers = [f"customer:{n:05d}" for n in range(customers)]
        self.root_cause_ids = [self._uuid() for _ in range(root_causes)]
        self.known_answers = [f"KB-{n:04d}" for n in range(40)]
        self.mistakes = mistakes
        self._pending_root_causes = list(self.root_cause_ids)
        self._verified: set[str] = set()
        self._actions: dict[str, list[str]] = {rc: [] for rc in self.root_cause_ids}

    # -- public --------------------------------------------------------------------------------

    def commands(self, count: int) -> Iterator[Envelope]:
        """The next ``count`` command envelopes."""
        active: list[_Case] = []
        produced = 0
        while produced < count:
            if self._pending_root_causes:
                envelope: Envelope | None = self._identify(self._pending_root_causes.pop())
            else:
                while len(active) < self.concurrent_cases:
                    active.append(self._new_case())
                case = active[self.rng.randrange(len(active))]
                envelope = case.steps.pop(0)()
                if not case.steps:
                    active.remove(case)
            if envelope is None:
                continue
            self.now += timedelta(seconds=self.rng.expovariate(1 / 20))
            produced += 1
            yield envelope

    # -- building blocks -------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _envelope(
        self, type_: str, aggregate_id: str, payload: dict[str, Any], actor: str | None = None
    ) -> Envelope:
        kind = "customer" if actor and actor.startswith("customer:") else "agent"
        return {
            "command_id": self._uuid(),
            "type": type_,
            "aggregate_id": aggregate_id,
            "expected_version": None,
            "issued_at": self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": {"id": actor or self.rng.choice(self.agents), "kind": kind},
            "payload": payload,
        }

    def _later(self, hours: float) -> str:
        return (self.now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _identify(self, root_cause_id: str) -> Envelope:
        return self._envelope(
            "IdentifyRootCause",
            root_cause_id,
            {
                "title": f"{self.rng.choice(SUBJECTS)} ({self.rng.choice(PRODUCTS)})",
                "description": "Recurring problem found while reviewing repeat contacts.",
                "category": self.rng.choice(CATEGORIES),
                "product": self.rng.choice(PRODUCTS),
            },
        )

    def _new_case(self) -> _Case:
        rng = self.rng
        case = _Case(self._uuid(), rng.choice(self.customers))
        cid, customer = case.case_id, case.customer_id
        owner = rng.choice(self.agents)
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        channel = rng.choice(CHANNELS)
        add = case.steps.append
        env = self._envelope

        add(
            lambda: env(
                "OpenCase",
                cid,
                {
                    "customer_id": customer,
                    "channel": channel,
                    "subject": rng.choice(SUBJECTS),
                    "description": "The customer describes the problem in their own words. " * 2,
                    "priority": priority,
                    "category": rng.choice(CATEGORIES),
                    "product": rng.choice(PRODUCTS),
                    "tags": rng.sample(["vip", "web", "repeat"], 1),
                },
                customer,
            )
        )
        add(lambda: env("Acknowledge", cid, {"channel": channel, "message": "We are on it."}))
        if rng.random() < self.mistakes:
            add(lambda: env("Acknowledge", cid, {}))  # rejected: already_acknowledged
        add(lambda: env("Assign", cid, {"agent_id": owner, "reason": "queue"}))
        if rng.random() < 0.3:
            add(lambda: env("TakeResponsibility", cid, {"note": "mine until fixed"}, owner))
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            add(
                lambda: env(
                    "RecordContact",
                    cid,
                    {
                        "direction": rng.choice(["inbound", "outbound"]),
                        "channel": channel,
                        "summary": "Talked through the symptoms and next steps.",
                    },
                )
            )
        if rng.random() < 0.5:
            add(lambda: env("UpdateCustomer", cid, {"channel": channel, "message": "Update."}))
        if rng.random() < 0.2:
            add(lambda: env("ScheduleCallback", cid, {"due_at": self._later(4), "agent_id": owner}))
            add(lambda: env("CompleteCallback", cid, {"outcome": "called back, explained fix"}))
        if rng.random() < 0.15:
            lead = rng.choice(self.leads)
            add(
                lambda: env(
                    "Escalate",
                    cid,
                    {
                        "to_agent_id": lead,
                        "reason": "needs a refund decision",
                        "authority": "refunds",
                    },
                )
            )
        if rng.random() < self.mistakes:
            add(lambda: env("Close", cid, {}))  # rejected: not_resolved
        known = rng.random() < 0.3
        add(
            lambda: env(
                "ApplyFix",
                cid,
                {
                    "kind": rng.choice(["answer", "workaround", "fix"]),
                    "summary": "Applied the fix.",
                    **({"known_answer_id": rng.choice(self.known_answers)} if known else {}),
                },
            )
        )
        if rng.random() < 0.35:
            root_cause = rng.choice(self.root_cause_ids)
            add(lambda: env("LinkRootCause", cid, {"root_cause_id": root_cause}))
            add(lambda: self._root_cause_step(root_cause))
        add(lambda: env("Resolve", cid, {"resolution": "Fixed and confirmed on the call."}))
        if rng.random() < 0.1:  # "not resolved": reopened, fixed again
            add(lambda: env("RecordFollowUp", cid, {"outcome": "not_resolved", "note": "again"}))
            add(lambda: env("ApplyFix", cid, {"kind": "fix", "summary": "Second, real fix."}))
            add(lambda: env("Resolve", cid, {"resolution": "Root problem fixed."}))
        if rng.random() < 0.85:
            add(lambda: env("ScheduleFollowUp", cid, {"due_at": self._later(48)}))
            add(
                lambda: env(
                    "RecordFollowUp",
                    cid,
                    {
                        "outcome": rng.choice(["confirmed", "confirmed", "no_response"]),
                    },
                )
            )
        else:
            add(lambda: env("WaiveFollowUp", cid, {"reason": "customer asked not to be called"}))
        if rng.random() < 0.6:
            add(
                lambda: env(
                    "RateSatisfaction",
                    cid,
                    {
                        "score": rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 6])[0],
                    },
                    customer,
                )
            )
        add(lambda: env("Close", cid, {}))
        return case

    def _root_cause_step(self, root_cause_id: str) -> Envelope | None:
        """Move a root cause on: plan an action, complete one, or verify the fix."""
        rng, actions = self.rng, self._actions[root_cause_id]
        if root_cause_id in self._verified or rng.random() < 0.4:
            return None
        open_actions = [a for a in actions if not a.startswith("done:")]
        if len(actions) < 2 or (not open_actions and rng.random() < 0.3):
            action_id = f"PA-{len(actions) + 1}"
            actions.append(action_id)
            return self._envelope(
                "PlanPreventiveAction",
                root_cause_id,
                {
                    "action_id": action_id,
                    "kind": rng.choice(
                        ["documentation", "bug_fix", "product_change", "process_change", "training"]
                    ),
                    "description": "Make sure this never happens again.",
                    "owner_id": rng.choice(self.leads),
                    "due_at": self._later(24 * 14),
                },
            )
        if open_actions:
            action_id = open_actions[0]
            actions[actions.index(action_id)] = f"done:{action_id}"
            return self._envelope(
                "CompletePreventiveAction",
                root_cause_id,
                {
                    "action_id": action_id,
                    "evidence": "Shipped in release 4.2; docs updated.",
                },
            )
        self._verified.add(root_cause_id)
        return self._envelope("VerifyFix", root_cause_id, {"note": "No new cases for 30 days."})
