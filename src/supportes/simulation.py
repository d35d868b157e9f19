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

import heapq
import itertools
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
WAIVER_REASONS = [
    "One-off: a power cut at the customer's site.",
    "Customer error: wrong password typed.",
    "One-off: the courier lost the parcel.",
]
"""Why a lead rules out a root cause (``WaiveRootCause``, full mix only)."""
SUGGESTIONS = [
    "Send an SMS when an outage in the area is over.",
    "Let customers restart the router from the app.",
    "Show the invoice breakdown before charging.",
]
RETURNING_SHARE = 0.35
"""Share of cases (``full_mix``) opened by a customer who had a case before."""
Envelope = dict[str, Any]


@dataclass(frozen=True)
class _Step:
    """One command of a case script; ``after_h`` is the typical delay (hours) after the case's
    previous step, used only by :meth:`TrafficGenerator.lifecycles`."""

    make: Callable[[], Envelope | None]
    after_h: float


@dataclass
class _Case:
    case_id: str
    customer_id: str
    steps: list[_Step] = field(default_factory=list)

    def add(self, make: Callable[[], Envelope | None], after_h: float = 0.5) -> None:
        """Append a step coming typically ``after_h`` hours after the previous one."""
        self.steps.append(_Step(make, after_h))


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
        known_answers: int = 40,
        full_mix: bool = False,
    ) -> None:
        """``full_mix`` adds returning customers (often with the same problem again), customer
        replies that reopen a resolved case, reopenings of closed cases and suggestions; without
        it the stream is the one benchmarks have always used for a seed."""
        self.rng = random.Random(seed)
        self.full_mix = full_mix
        self._clock = random.Random(f"clock:{seed}")
        self._topics: dict[str, tuple[str, str, str]] = {}  # customer -> last subject, topic
        self.now = (start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)).astimezone(UTC)
        self.concurrent_cases = concurrent_cases
        self.agents = [f"agent:{n:03d}" for n in range(agents)]
        self.leads = self.agents[: max(1, agents // 5)]
        self.customers = [f"customer:{n:05d}" for n in range(customers)]
        self.root_cause_ids = [self._uuid() for _ in range(root_causes)]
        self.known_answers = [f"KB-{n:04d}" for n in range(known_answers)]
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
                envelope = case.steps.pop(0).make()
                if not case.steps:
                    active.remove(case)
            if envelope is None:
                continue
            self.now += timedelta(seconds=self.rng.expovariate(1 / 20))
            produced += 1
            yield envelope

    def lifecycles(self, cases: int, *, days: float) -> Iterator[Envelope]:
        """The lifecycles of exactly ``cases`` cases on a real-time clock, in time order.

        The window starts at ``start``: every root cause is identified then, the cases open at
        random times within the ``days`` that follow, and each next step of a case comes a
        typical delay later (minutes to acknowledge, two days to the follow-up, ...). Steps that
        would fall after the window's end are left out, so the latest cases are still open.
        Stream and cut-off depend on the seed and arguments only, never on ``start``.
        """
        begin = self.now
        end = begin + timedelta(days=days)
        while self._pending_root_causes:
            yield self._identify(self._pending_root_causes.pop())
        clock = self._clock
        opens = sorted(clock.uniform(0.0, days * 24) for _ in range(cases))
        queue: list[tuple[datetime, int, _Case | None]] = [
            (begin + timedelta(hours=h), n, None) for n, h in enumerate(opens)
        ]
        heapq.heapify(queue)
        order = itertools.count(cases)
        while queue:
            at, _, case = heapq.heappop(queue)
            if at > end:
                continue  # still open when the window ends
            case = case or self._new_case()
            self.now = at
            envelope = case.steps.pop(0).make()
            if case.steps:
                delay = case.steps[0].after_h * clock.uniform(0.6, 1.4)
                heapq.heappush(queue, (at + timedelta(hours=delay), next(order), case))
            if envelope is not None:
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
        if self.full_mix and self._topics and rng.random() < RETURNING_SHARE:
            case.customer_id = rng.choice(sorted(self._topics))  # a returning customer
        cid, customer = case.case_id, case.customer_id
        owner = rng.choice(self.agents)
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        channel = rng.choice(CHANNELS)
        case.add(lambda: self._open_case(cid, customer, channel, priority), 0.0)
        self._work(case, owner, channel)
        self._fix(case, channel)
        self._aftercare(case)
        return case

    def _work(self, case: _Case, owner: str, channel: str) -> None:
        """Acknowledge, assign, contacts, updates, callbacks, escalation, a suggestion."""
        rng, env, cid, add = self.rng, self._envelope, case.case_id, case.add
        add(lambda: env("Acknowledge", cid, {"channel": channel, "message": "We are on it."}), 0.3)
        if rng.random() < self.mistakes:
            add(lambda: env("Acknowledge", cid, {}), 0.1)  # rejected: already_acknowledged
        add(lambda: env("Assign", cid, {"agent_id": owner, "reason": "queue"}), 0.5)
        if rng.random() < 0.3:
            add(lambda: env("TakeResponsibility", cid, {"note": "mine until fixed"}, owner), 0.2)
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
                ),
                3.0,
            )
        if rng.random() < 0.5:
            add(lambda: env("UpdateCustomer", cid, {"channel": channel, "message": "Update."}), 6.0)
        if rng.random() < 0.2:
            add(
                lambda: env("ScheduleCallback", cid, {"due_at": self._later(4), "agent_id": owner}),
                1.0,
            )
            outcome = "called back, explained fix"
            add(lambda: env("CompleteCallback", cid, {"outcome": outcome}), 4.5)
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
                ),
                3.0,
            )
        if self.full_mix and rng.random() < 0.1:
            add(lambda: env("NoteSuggestion", cid, {"suggestion": rng.choice(SUGGESTIONS)}), 1.0)
        if rng.random() < self.mistakes:
            add(lambda: env("Close", cid, {}), 0.2)  # rejected: not_resolved

    def _fix(self, case: _Case, channel: str) -> None:
        """The fix (maybe a known answer), a root cause, resolution, reopenings."""
        rng, env, add = self.rng, self._envelope, case.add
        cid, customer = case.case_id, case.customer_id
        known = rng.random() < 0.3
        kinds = ["answer", "workaround", "fix"]
        fixed = rng.choice(kinds) if self.full_mix else None  # (the benchmark stream draws later)
        add(
            lambda: env(
                "ApplyFix",
                cid,
                {
                    "kind": fixed or rng.choice(kinds),
                    "summary": "Applied the fix.",
                    **({"known_answer_id": self._known_answer()} if known else {}),
                },
            ),
            6.0,
        )
        linked = rng.random() < 0.35
        if linked:
            root_cause = rng.choice(self.root_cause_ids)
            add(lambda: env("LinkRootCause", cid, {"root_cause_id": root_cause}), 0.5)
            add(lambda: self._root_cause_step(root_cause), 0.2)
        add(lambda: env("Resolve", cid, {"resolution": "Fixed and confirmed on the call."}), 1.0)
        if self.full_mix and not linked and (known or fixed == "workaround"):
            self._second_fix(case)
        if rng.random() < 0.1:  # "not resolved": reopened, fixed again
            add(
                lambda: env("RecordFollowUp", cid, {"outcome": "not_resolved", "note": "again"}),
                24.0,
            )
            add(lambda: env("ApplyFix", cid, {"kind": "fix", "summary": "Second, real fix."}), 8.0)
            add(lambda: env("Resolve", cid, {"resolution": "Root problem fixed."}), 2.0)
        if self.full_mix and rng.random() < 0.08:  # the customer replies: reopened, fixed again
            add(lambda: self._customer_replies(cid, customer, channel), 12.0)
            add(lambda: env("ApplyFix", cid, {"kind": "workaround", "summary": "Reset."}), 4.0)
            add(lambda: env("Resolve", cid, {"resolution": "Works again after a reset."}), 1.0)

    def _known_answer(self) -> str:
        """A known answer; in the full mix a few are given far more often than the rest."""
        if not self.full_mix:
            return self.rng.choice(self.known_answers)
        weights = [1 / (n + 1) ** 2 for n in range(len(self.known_answers))]
        return self.rng.choices(self.known_answers, weights=weights)[0]

    def _second_fix(self, case: _Case) -> None:
        """Fix everything twice (full mix): a case resolved by a workaround or a known answer
        gets its root cause linked a day later, or a lead waives it, or it stays in the queue
        (``root_cause_needed``)."""
        rng, env, add, cid = self.rng, self._envelope, case.add, case.case_id
        chance = rng.random()
        if chance < 0.4:
            root_cause = rng.choice(self.root_cause_ids)
            add(lambda: env("LinkRootCause", cid, {"root_cause_id": root_cause}), 20.0)
        elif chance < 0.65:
            lead, reason = rng.choice(self.leads), rng.choice(WAIVER_REASONS)
            add(lambda: env("WaiveRootCause", cid, {"reason": reason}, lead), 10.0)

    def _aftercare(self, case: _Case) -> None:
        """Follow-up (or waiver), satisfaction, close; sometimes reopened after closing."""
        rng, env, add = self.rng, self._envelope, case.add
        cid, customer = case.case_id, case.customer_id
        if rng.random() < 0.85:
            add(lambda: env("ScheduleFollowUp", cid, {"due_at": self._later(48)}), 0.1)
            add(
                lambda: env(
                    "RecordFollowUp",
                    cid,
                    {
                        "outcome": rng.choice(["confirmed", "confirmed", "no_response"]),
                    },
                ),
                49.0,
            )
        else:
            add(
                lambda: env("WaiveFollowUp", cid, {"reason": "customer asked not to be called"}),
                1.0,
            )
        if rng.random() < 0.6:
            add(
                lambda: env(
                    "RateSatisfaction",
                    cid,
                    {
                        "score": rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 6])[0],
                    },
                    customer,
                ),
                4.0,
            )
        add(lambda: env("Close", cid, {}), 1.0)
        if self.full_mix and rng.random() < 0.05:  # closed, then the problem is back
            reason = "Customer called: the same problem is back."
            add(lambda: env("Reopen", cid, {"reason": reason}), 30.0)
            add(lambda: env("ApplyFix", cid, {"kind": "fix", "summary": "Replaced the unit."}), 8.0)
            add(lambda: env("Resolve", cid, {"resolution": "New unit works."}), 1.0)
            add(lambda: env("WaiveFollowUp", cid, {"reason": "confirmed on the call"}), 0.2)
            add(lambda: env("Close", cid, {}), 0.5)

    def _open_case(self, cid: str, customer: str, channel: str, priority: str) -> Envelope:
        rng = self.rng
        subject, category, product = (
            rng.choice(SUBJECTS),
            rng.choice(CATEGORIES),
            rng.choice(PRODUCTS),
        )
        if self.full_mix:  # a returning customer mostly comes back with the same problem
            before = self._topics.get(customer)
            if before is not None and rng.random() < 0.7:
                subject, category, product = before
            self._topics[customer] = (subject, category, product)
        payload = {
            "customer_id": customer,
            "channel": channel,
            "subject": subject,
            "description": "The customer describes the problem in their own words. " * 2,
            "priority": priority,
            "category": category,
            "product": product,
            "tags": rng.sample(["vip", "web", "repeat"], 1),
        }
        return self._envelope("OpenCase", cid, payload, customer)

    def _customer_replies(self, cid: str, customer: str, channel: str) -> Envelope:
        """An inbound contact on the resolved case: the writer reopens it."""
        summary = "Customer writes back: it stopped working again."
        payload = {"direction": "inbound", "channel": channel, "summary": summary}
        return self._envelope("RecordContact", cid, payload, customer)

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
