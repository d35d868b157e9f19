"""Hypothesis stateful tests: random (valid and invalid) command sequences on both aggregates.

After every step: rules held (accepted commands were allowed, rejections were justified and
changed nothing), versions grow by exactly one per event, status agrees with an independent fold
of the events, rebuilding from wire JSON gives the same state, re-deciding is byte-identical,
the hash chain verifies, and any single altered, dropped, swapped or re-hashed event is detected.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from uuid import UUID, uuid5

from domain_gwt import (
    AGENT,
    CASE_ID,
    CUSTOMER,
    OTHER_AGENT,
    ROOT_CAUSE_ID,
    SYSTEM,
    T0,
    VALID_PAYLOADS,
)
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from supportes.aggregates import (
    COMMAND_PAYLOADS,
    ROUTES,
    AnyAggregate,
    Decision,
    ErrorCode,
    Rejection,
    apply_envelope,
    decide,
    event_hash,
    last_hash_of,
    parse_command,
    rebuild,
    state_of,
    verify_chain,
)
from supportes.aggregates.hashchain import seal
from supportes.aggregates.values import rfc3339

SETTINGS = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ACTORS = st.sampled_from([AGENT, AGENT, OTHER_AGENT, CUSTOMER, SYSTEM])
AGENTS = st.sampled_from(["agent:maria", "agent:tom", "agent:lead"])
TEXT = st.sampled_from(["ok", "a longer text", "Zoë ✓", "", "  "])
CHANNELS = st.sampled_from(["email", "phone", "chat", "web", "social", "in_person", "fax"])
VERSION_MODES = st.sampled_from(["none", "none", "none", "none", "current", "stale"])
ADVANCE = st.integers(min_value=0, max_value=3000)
JUNK = st.dictionaries(
    st.sampled_from(["reason", "score", "due_at", "action_id", "case_id", "x", "kind"]),
    st.one_of(st.none(), st.text(max_size=3), st.integers(-1, 6), st.booleans()),
    max_size=3,
)


@dataclass(frozen=True)
class Due:
    """A ``due_at`` this many minutes after the command's ``issued_at``."""

    minutes: int


DUE = st.builds(Due, st.sampled_from([-30, 0, 60, 60 * 24, 60 * 24 * 3]))
LEGAL_CODES = {c.value for c in ErrorCode}


class AggregateMachine(RuleBasedStateMachine):
    """Shared driver: submit commands, check every decision, keep the emitted envelopes."""

    AGGREGATE_ID: ClassVar[UUID]
    CREATE: ClassVar[str]
    FOREIGN_CREATE: ClassVar[str]  # the other aggregate's create command: it may claim a free id

    def __init__(self) -> None:
        super().__init__()
        self.aggregate: AnyAggregate | None = None
        self.envelopes: list[dict[str, Any]] = []
        self.clock = T0
        self.count = 0
        self.key: bytes | None = None
        self.replica: AnyAggregate | None = None
        self.replicated = 0

    @initialize(
        key=st.one_of(st.none(), st.binary(min_size=1, max_size=16)),
        create_first=st.sampled_from([True, True, True, False]),
    )
    def start(self, key: bytes | None, create_first: bool) -> None:
        self.key = key
        if create_first:
            self.submit(self.CREATE, dict(VALID_PAYLOADS[self.CREATE]))

    @property
    def state(self) -> dict[str, Any] | None:
        return None if self.aggregate is None else state_of(self.aggregate)

    # --- driving -------------------------------------------------------------------------

    def submit(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        actor: dict[str, str] = AGENT,
        version_mode: str = "none",
        advance: int = 5,
    ) -> None:
        self.count += 1
        self.clock += timedelta(minutes=advance)
        version = 0 if self.aggregate is None else self.aggregate.version
        expected = {"none": None, "current": version, "stale": version + 1}[version_mode]
        raw = {
            "command_id": str(uuid5(self.AGGREGATE_ID, f"c{self.count}")),
            "type": type_,
            "aggregate_id": str(self.AGGREGATE_ID),
            "expected_version": expected,
            "issued_at": rfc3339(self.clock),
            "actor": actor,
            "payload": {
                k: rfc3339(self.clock + timedelta(minutes=v.minutes)) if isinstance(v, Due) else v
                for k, v in payload.items()
            },
        }
        before = self.aggregate
        before_state = None if before is None else state_of(before)
        outcome: Decision | Rejection
        try:
            command = parse_command(raw)
            outcome = decide(command, before, last_hash=last_hash_of(before), audit_key=self.key)
        except Rejection as caught:
            outcome = caught
        if isinstance(outcome, Rejection):
            self.check_rejected(
                type_=type_,
                raw=raw,
                before=before,
                before_state=before_state,
                expected=expected,
                rejection=outcome,
            )
            return
        decision = outcome
        assert (None if before is None else state_of(before)) == before_state, "input mutated"
        assert expected is None or expected == version
        again = decide(command, before, last_hash=last_hash_of(before), audit_key=self.key)
        assert json.dumps(again.events) == json.dumps(decision.events)
        self.check_decision(before_state, decision)
        self.aggregate = decision.aggregate
        self.envelopes.extend(decision.events)
        for envelope in decision.events:
            event(f"emitted {envelope['type']}")
        self.check_after(state_of(decision.aggregate))

    def check_rejected(
        self,
        *,
        type_: str,
        raw: dict[str, Any],
        before: AnyAggregate | None,
        before_state: dict[str, Any] | None,
        expected: int | None,
        rejection: Rejection,
    ) -> None:
        event(f"rejected {rejection.code}")
        assert rejection.code in LEGAL_CODES
        assert (None if before is None else state_of(before)) == before_state, (
            "rejection changed it"
        )
        version = 0 if before is None else before.version
        if rejection.code == "version_conflict":
            assert expected is not None
            assert expected != version
        elif rejection.code == "already_exists":
            assert before is not None
            assert ROUTES[type_].creates
        elif rejection.code == "not_found":
            assert before is None or not isinstance(before, ROUTES[type_].aggregate_class)
        else:
            self.check_rejection(type_, raw, before_state, rejection)

    def check_decision(self, before: dict[str, Any] | None, decision: Decision) -> None:
        start = 0 if before is None else before["version"]
        assert decision.events, "an accepted command emits at least one event"
        assert [e["version"] for e in decision.events] == list(
            range(start + 1, start + 1 + len(decision.events))
        )
        assert decision.aggregate.version == start + len(decision.events)
        prev = self.envelopes[-1]["hash"] if self.envelopes else None
        for envelope in decision.events:
            assert envelope["prev_hash"] == prev
            prev = envelope["hash"]
        assert decision.aggregate.last_hash == prev
        self.check_rules(before, [(e["type"], e["payload"]) for e in decision.events])

    def check_rules(self, before: dict[str, Any] | None, events: list[tuple[str, Any]]) -> None:
        raise NotImplementedError

    def check_rejection(
        self, type_: str, raw: dict[str, Any], before: dict[str, Any] | None, r: Rejection
    ) -> None:
        raise NotImplementedError

    def check_after(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    @rule(
        type_=st.sampled_from([*sorted(COMMAND_PAYLOADS), "Bogus"]),
        payload=JUNK,
        actor=ACTORS,
        version_mode=VERSION_MODES,
    )
    def junk_command(
        self, type_: str, payload: dict[str, Any], actor: dict[str, str], version_mode: str
    ) -> None:
        if type_ != self.FOREIGN_CREATE or self.aggregate is not None:
            self.submit(type_, payload, actor=actor, version_mode=version_mode)

    @rule(type_=st.sampled_from(sorted(COMMAND_PAYLOADS)), version_mode=VERSION_MODES)
    def example_command(self, type_: str, version_mode: str) -> None:
        if type_ != self.FOREIGN_CREATE or self.aggregate is not None:
            self.submit(type_, dict(VALID_PAYLOADS[type_]), version_mode=version_mode)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def a_replica_fed_the_wire_json_has_the_same_state(self) -> None:
        """Incremental rebuild: every new envelope, through JSON, applied to a replica."""
        new = json.loads(json.dumps(self.envelopes[self.replicated :]))
        for envelope in new:
            self.replica = apply_envelope(self.replica, envelope)
            assert event_hash(envelope, self.key) == envelope["hash"]
        self.replicated = len(self.envelopes)
        if self.aggregate is None:
            assert self.replica is None
            return
        assert self.replica is not None
        assert state_of(self.replica) == state_of(self.aggregate)
        assert self.replica.last_hash == self.aggregate.last_hash
        assert self.aggregate.version == len(self.envelopes)

    def teardown(self) -> None:
        """Full rebuild from scratch and full chain verification of the whole history."""
        rebuilt = rebuild(json.loads(json.dumps(self.envelopes)))
        assert (rebuilt is None) == (self.aggregate is None)
        if rebuilt is not None and self.aggregate is not None:
            assert state_of(rebuilt) == state_of(self.aggregate)
        report = verify_chain(
            self.envelopes,
            key=self.key,
            expected_last_version=len(self.envelopes),
            expected_last_hash=self.envelopes[-1]["hash"] if self.envelopes else None,
        )
        assert report.ok, report

    @precondition(lambda self: len(self.envelopes) >= 2)
    @rule(data=st.data())
    def any_single_tampering_is_detected(self, data: st.DataObject) -> None:
        n = len(self.envelopes)
        i = data.draw(st.integers(0, n - 1), label="index")
        kinds = ["alter", "drop", "swap", "rehash"]
        kind = data.draw(st.sampled_from(kinds), label="kind")
        chain = copy.deepcopy(self.envelopes)
        if kind == "alter":
            field = data.draw(st.sampled_from(sorted(chain[i])), label="field")
            chain[i][field] = _different(chain[i][field])
        elif kind == "drop":
            del chain[i]
        elif kind == "swap":
            j = i + 1 if i < n - 1 else i - 1
            chain[i], chain[j] = chain[j], chain[i]
        else:  # alter, then re-hash with plain SHA-256 (no key)
            chain[i]["payload"]["tampered"] = True
            chain[i] = seal(chain[i])
        report = verify_chain(
            chain,
            key=self.key,
            expected_last_version=n,
            expected_last_hash=self.envelopes[-1]["hash"],
        )
        assert not report.ok, (kind, i)
        assert report.first_bad_version is not None
        assert report.first_bad_version <= n
        if kind == "rehash" and self.key is not None:
            assert report.first_bad_version == i + 1  # the forged event itself fails under HMAC


def _different(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "tampered": True}
    return "tampered"


# --- Case ------------------------------------------------------------------------------------


def case_status_fold(events: list[dict[str, Any]]) -> str | None:
    """Section 4's status rules, folded independently from event types and payloads."""
    status: str | None = None
    owner: str | None = None
    acknowledged = False
    for envelope in events:
        t, p = envelope["type"], envelope["payload"]
        if t == "CaseOpened":
            status = "new"
        elif t == "CaseAcknowledged":
            acknowledged = True
            status = "acknowledged" if status == "new" else status
        elif t in ("CaseAssigned", "CaseEscalated", "ResponsibilityTaken"):
            owner = p.get("agent_id") if t == "CaseAssigned" else p.get("to_agent_id", owner)
            if t == "ResponsibilityTaken":
                owner = p["owner_id"]
            status = "assigned" if status in ("new", "acknowledged") else status
        elif t == "CaseResolved":
            status = "resolved"
        elif t == "CaseClosed":
            status = "closed"
        elif t == "CaseReopened":
            status = "assigned" if owner else ("acknowledged" if acknowledged else "new")
    return status


def follow_up_fold(events: list[dict[str, Any]]) -> str:
    """Follow-up state: pending after each resolution, settled by record/waive, reset by reopen."""
    state = "not_due"
    for envelope in events:
        t, p = envelope["type"], envelope["payload"]
        if t == "CaseResolved":
            state = "pending"
        elif t == "FollowUpRecorded" and p["outcome"] != "not_resolved":
            state = p["outcome"]
        elif t == "FollowUpWaived":
            state = "waived"
        elif t == "CaseReopened":
            state = "not_due"
    return state


class CaseMachine(AggregateMachine):
    AGGREGATE_ID = CASE_ID
    CREATE = "OpenCase"
    FOREIGN_CREATE = "IdentifyRootCause"

    @rule(
        steps=st.integers(1, 8),
        follow_up=st.sampled_from(["confirmed", "no_response", "not_resolved", "waive", "reply"]),
        after_close=st.sampled_from(["Reopen", "RateSatisfaction"]),
    )
    def advance_lifecycle(self, steps: int, follow_up: str, after_close: str) -> None:
        """Push the case along its lifecycle with valid commands (reaches the deep states)."""
        for _ in range(steps):
            state = self.state
            if state is None:
                self.submit("OpenCase", dict(VALID_PAYLOADS["OpenCase"]))
            elif state["status"] == "closed":
                self.submit(after_close, dict(VALID_PAYLOADS[after_close]), actor=CUSTOMER)
            elif state["acknowledged_at"] is None:
                self.submit("Acknowledge", {})
            elif state["owner_id"] is None:
                self.submit("Assign", {"agent_id": "agent:maria"})
            elif state["status"] != "resolved":
                self.submit("Resolve", {"resolution": "fixed"}, advance=600)
            elif not state["follow_up_settled"] and follow_up == "reply":
                contact = {"direction": "inbound", "channel": "email", "summary": "still broken"}
                self.submit("RecordContact", contact, actor=CUSTOMER)
            elif not state["follow_up_settled"] and follow_up == "waive":
                self.submit("WaiveFollowUp", {"reason": "asked"})
            elif not state["follow_up_settled"]:
                self.submit("RecordFollowUp", {"outcome": follow_up}, actor=CUSTOMER)
            else:
                self.submit("Close", {})

    @rule(
        channel=CHANNELS,
        subject=TEXT,
        priority=st.sampled_from([None, "low", "urgent", "asap"]),
        tags=st.lists(st.sampled_from(["wifi", "billing", " "]), max_size=2),
        version_mode=VERSION_MODES,
    )
    def open_case(
        self, channel: str, subject: str, priority: str | None, tags: list[str], version_mode: str
    ) -> None:
        payload = {**VALID_PAYLOADS["OpenCase"], "channel": channel, "subject": subject}
        payload |= {"tags": tags} | ({"priority": priority} if priority else {})
        self.submit("OpenCase", payload, version_mode=version_mode)

    @rule(
        direction=st.sampled_from(["inbound", "inbound", "outbound", "up"]),
        channel=CHANNELS,
        actor=ACTORS,
        advance=ADVANCE,
    )
    def record_contact(
        self, direction: str, channel: str, actor: dict[str, str], advance: int
    ) -> None:
        payload = {"direction": direction, "channel": channel, "summary": "contact"}
        self.submit("RecordContact", payload, actor=actor, advance=advance)

    @rule(channel=st.one_of(st.none(), CHANNELS), version_mode=VERSION_MODES)
    def acknowledge(self, channel: str | None, version_mode: str) -> None:
        payload = {"channel": channel} if channel else {}
        self.submit("Acknowledge", payload, version_mode=version_mode)

    @rule(agent=AGENTS)
    def assign(self, agent: str) -> None:
        self.submit("Assign", {"agent_id": agent})

    @rule(actor=ACTORS)
    def take_responsibility(self, actor: dict[str, str]) -> None:
        self.submit("TakeResponsibility", {}, actor=actor)

    @rule(agent=AGENTS, reason=TEXT)
    def escalate(self, agent: str, reason: str) -> None:
        self.submit("Escalate", {"to_agent_id": agent, "reason": reason})

    @rule(due=DUE, advance=ADVANCE)
    def schedule_callback(self, due: Due, advance: int) -> None:
        self.submit("ScheduleCallback", {"due_at": due}, advance=advance)

    @rule(due=DUE)
    def schedule_follow_up(self, due: Due) -> None:
        self.submit("ScheduleFollowUp", {"due_at": due})

    @rule(kind=st.sampled_from(["answer", "fix", "workaround", "hack"]), known=st.booleans())
    def apply_fix(self, kind: str, known: bool) -> None:
        payload = {"kind": kind, "summary": "did it"} | (
            {"known_answer_id": "kb:1"} if known else {}
        )
        self.submit("ApplyFix", payload)

    @rule(resolution=TEXT, advance=ADVANCE)
    def resolve(self, resolution: str, advance: int) -> None:
        self.submit("Resolve", {"resolution": resolution}, advance=advance)

    @rule(outcome=st.sampled_from(["confirmed", "no_response", "not_resolved", "meh"]))
    def record_follow_up(self, outcome: str) -> None:
        self.submit("RecordFollowUp", {"outcome": outcome}, actor=CUSTOMER)

    @rule(reason=TEXT)
    def waive_follow_up(self, reason: str) -> None:
        self.submit("WaiveFollowUp", {"reason": reason})

    @rule(score=st.one_of(st.integers(-1, 7), st.booleans(), st.just(4.0), st.just("5")))
    def rate(self, score: object) -> None:
        self.submit("RateSatisfaction", {"score": score}, actor=CUSTOMER)

    @rule(reason=TEXT)
    def reopen(self, reason: str) -> None:
        self.submit("Reopen", {"reason": reason})

    @rule(version_mode=VERSION_MODES, advance=ADVANCE)
    def close(self, version_mode: str, advance: int) -> None:
        self.submit("Close", {}, version_mode=version_mode, advance=advance)

    def check_rules(self, before: dict[str, Any] | None, events: list[tuple[str, Any]]) -> None:
        types = [t for t, _ in events]
        if before is None:
            assert types == ["CaseOpened"]
            return
        assert "CaseOpened" not in types
        if before["status"] == "closed":
            # a compensation is recorded on a closed case too: it never fails
            # the root cause (linked or waived) also after closing: "fix everything twice"
            assert types in (
                ["CaseReopened"],
                ["SatisfactionRated"],
                ["RootCauseLinkUndone"],
                ["RootCauseLinked"],
                ["RootCauseWaived"],
            )
        if "CaseClosed" in types:
            assert before["status"] == "resolved"
            assert before["follow_up"] in ("confirmed", "no_response", "waived")
        if "CaseResolved" in types:
            assert before["owner_id"] is not None
            assert before["status"] not in ("resolved", "closed")
        if "CaseAcknowledged" in types:
            assert before["acknowledged_at"] is None
        if {"FollowUpRecorded", "FollowUpWaived"} & set(types):
            assert before["status"] == "resolved"
        if "RootCauseWaived" in types:
            assert before["status"] in ("resolved", "closed")
            assert not before["root_cause_waived"]
        if {"CaseReopened", "SatisfactionRated"} & set(types):
            assert before["status"] in ("resolved", "closed")
        if types[0] == "ContactRecorded":
            reopens = events[0][1]["direction"] == "inbound" and before["status"] == "resolved"
            assert types == (
                ["ContactRecorded", "CaseReopened"] if reopens else ["ContactRecorded"]
            )
        if types[0] == "FollowUpRecorded":
            reopens = events[0][1]["outcome"] == "not_resolved"
            assert types == (
                ["FollowUpRecorded", "CaseReopened"] if reopens else ["FollowUpRecorded"]
            )
        if "CaseReopened" in types:
            assert events[-1][1]["suggested_owner_id"] == before["owner_id"]

    def check_rejection(
        self, type_: str, raw: dict[str, Any], before: dict[str, Any] | None, r: Rejection
    ) -> None:
        status = None if before is None else before["status"]
        if r.code == "case_closed":
            assert status == "closed"
        elif r.code == "not_resolved":
            assert status not in ("resolved", "closed") or (
                status == "closed" and type_ not in ("Reopen", "RateSatisfaction", "WaiveRootCause")
            )
        elif r.code == "already_waived":
            assert before is not None
            assert type_ == "WaiveRootCause"
            assert before["root_cause_waived"]
        elif r.code == "already_resolved":
            assert status == "resolved"
        elif r.code == "no_owner":
            assert before is not None
            assert before["owner_id"] is None
        elif r.code == "already_acknowledged":
            assert before is not None
            assert before["acknowledged_at"] is not None
        elif r.code == "follow_up_pending":
            assert before is not None
            assert status == "resolved"
            assert not before["follow_up_settled"]
        elif r.code == "invalid":
            assert r.field is not None
        elif r.code == "unknown_command":
            assert type_ not in COMMAND_PAYLOADS
        else:
            raise AssertionError(f"unexpected rejection for a case: {r!r}")

    def check_after(self, state: dict[str, Any]) -> None:
        assert state["status"] == case_status_fold(self.envelopes)
        assert state["follow_up"] == follow_up_fold(self.envelopes)
        types = [e["type"] for e in self.envelopes]
        assert state["reopen_count"] == types.count("CaseReopened")
        inbound = sum(
            e["type"] == "ContactRecorded" and e["payload"]["direction"] == "inbound"
            for e in self.envelopes
        )
        assert state["inbound_contacts"] == 1 + inbound
        assert state["escalated"] == ("CaseEscalated" in types)
        assert (state["closed_at"] is not None) == (state["status"] == "closed")
        assert (state["resolved_at"] is not None) == (state["status"] in ("resolved", "closed"))
        if state["status"] in ("assigned", "resolved", "closed"):
            assert state["owner_id"] is not None
        assert state["first_contact_resolution"] == (
            state["status"] in ("resolved", "closed")
            and inbound == 0
            and "CaseReopened" not in types
            and "CaseEscalated" not in types
        )
        assert state["distinct_owners"] == len(set(state["owners"]))


# --- RootCause -------------------------------------------------------------------------------

ACTION_IDS = st.sampled_from(["a1", "a2", "a3", " "])
CASE_IDS = st.sampled_from([str(CASE_ID), str(uuid5(CASE_ID, "other")), "not-a-uuid"])


def root_cause_status_fold(events: list[dict[str, Any]]) -> str | None:
    status = None
    for envelope in events:
        status = {
            "RootCauseIdentified": "open",
            "FixVerified": "verified",
            "RootCauseReopened": "reopened",
        }.get(envelope["type"], status)
    return status


class RootCauseMachine(AggregateMachine):
    AGGREGATE_ID = ROOT_CAUSE_ID
    CREATE = "IdentifyRootCause"
    FOREIGN_CREATE = "OpenCase"

    @rule(steps=st.integers(1, 8), recurrence=st.booleans())
    def advance_lifecycle(self, steps: int, recurrence: bool) -> None:
        """Plan, complete and verify actions; then recur or reopen (reaches the deep states)."""
        for _ in range(steps):
            state = self.state
            if state is None:
                self.submit("IdentifyRootCause", dict(VALID_PAYLOADS["IdentifyRootCause"]))
            elif state["open_actions"]:
                action = state["open_actions"][0]
                self.submit("CompletePreventiveAction", {"action_id": action, "evidence": "done"})
            elif state["status"] == "verified" and recurrence:
                self.submit("AttachCase", {"case_id": str(uuid5(CASE_ID, str(self.count)))})
            elif state["status"] == "verified":
                self.submit("ReopenRootCause", {"reason": "not holding"})
            elif not state["actions"] or state["actions_since_reopen"] == 0:
                payload = {**VALID_PAYLOADS["PlanPreventiveAction"], "action_id": f"p{self.count}"}
                self.submit("PlanPreventiveAction", payload)
            else:
                self.submit("VerifyFix", {})

    @rule(title=TEXT, version_mode=VERSION_MODES)
    def identify(self, title: str, version_mode: str) -> None:
        payload = {**VALID_PAYLOADS["IdentifyRootCause"], "title": title}
        self.submit("IdentifyRootCause", payload, version_mode=version_mode)

    @rule(case_id=CASE_IDS, actor=st.sampled_from([SYSTEM, AGENT]))
    def attach_case(self, case_id: str, actor: dict[str, str]) -> None:
        self.submit("AttachCase", {"case_id": case_id}, actor=actor)

    @rule(
        action_id=ACTION_IDS,
        kind=st.sampled_from(["documentation", "bug_fix", "training", "wishful"]),
        due=st.one_of(st.none(), DUE),
    )
    def plan(self, action_id: str, kind: str, due: Due | None) -> None:
        payload = {**VALID_PAYLOADS["PlanPreventiveAction"], "action_id": action_id, "kind": kind}
        self.submit("PlanPreventiveAction", payload | ({"due_at": due} if due else {}))

    @rule(action_id=ACTION_IDS, evidence=TEXT)
    def complete(self, action_id: str, evidence: str) -> None:
        self.submit("CompletePreventiveAction", {"action_id": action_id, "evidence": evidence})

    @rule(version_mode=VERSION_MODES)
    def verify(self, version_mode: str) -> None:
        self.submit("VerifyFix", {}, version_mode=version_mode)

    @rule(reason=TEXT)
    def reopen(self, reason: str) -> None:
        self.submit("ReopenRootCause", {"reason": reason})

    def check_rules(self, before: dict[str, Any] | None, events: list[tuple[str, Any]]) -> None:
        types = [t for t, _ in events]
        if before is None:
            assert types == ["RootCauseIdentified"]
            return
        if "FixVerified" in types:
            assert before["actions"]
            assert before["open_actions"] == []
            assert before["actions_since_reopen"] > 0
        if types == ["CaseAttached", "RootCauseReopened"]:
            assert before["status"] == "verified"
            assert events[0][1]["recurrence"] is True
        elif types == ["CaseAttached"]:
            assert before["status"] != "verified"
        if "PreventiveActionPlanned" in types:
            assert events[0][1]["action_id"] not in before["actions"]
        if "PreventiveActionCompleted" in types:
            assert events[0][1]["action_id"] in before["open_actions"]

    def check_rejection(
        self, type_: str, raw: dict[str, Any], before: dict[str, Any] | None, r: Rejection
    ) -> None:
        action_id = raw["payload"].get("action_id")
        if r.code == "duplicate_action":
            assert before is not None
            assert action_id in before["actions"]
            assert type_ == "PlanPreventiveAction" or action_id not in before["open_actions"]
        elif r.code == "unknown_action":
            assert before is not None
            assert action_id not in before["actions"]
        elif r.code == "no_actions":
            assert before is not None
            assert not before["actions"] or before["actions_since_reopen"] == 0
        elif r.code == "actions_pending":
            assert before is not None
            assert before["open_actions"]
        elif r.code == "invalid":
            assert r.field is not None
        elif r.code == "unknown_command":
            assert type_ not in COMMAND_PAYLOADS
        else:
            raise AssertionError(f"unexpected rejection for a root cause: {r!r}")

    def check_after(self, state: dict[str, Any]) -> None:
        assert state["status"] == root_cause_status_fold(self.envelopes)
        attached = [e["payload"]["case_id"] for e in self.envelopes if e["type"] == "CaseAttached"]
        assert state["cases"] == list(dict.fromkeys(attached))
        planned = [
            e["payload"]["action_id"]
            for e in self.envelopes
            if e["type"] == "PreventiveActionPlanned"
        ]
        completed = {
            e["payload"]["action_id"]
            for e in self.envelopes
            if e["type"] == "PreventiveActionCompleted"
        }
        assert state["open_actions"] == [a for a in planned if a not in completed]


TestCaseMachine = SETTINGS(CaseMachine).TestCase
TestRootCauseMachine = SETTINGS(RootCauseMachine).TestCase
