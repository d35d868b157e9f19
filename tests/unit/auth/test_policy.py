"""The role table of design section 8, every role against every action and command type.

The expectations below are written from the design's table, independently of
``supportes.auth.policy.ROLE_TABLE``, so that a change to either shows up here.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.values import Actor, ActorKind, Via
from supportes.auth.policy import (
    CASE_COMMANDS,
    PRIVACY_COMMANDS,
    ROLE_TABLE,
    ROOT_CAUSE_COMMANDS,
    SYSTEM_COMMANDS,
    Action,
    Attested,
    Forbidden,
    Scope,
    actor_of,
    allows,
    allows_command,
    case_visible,
    case_writable,
    may_set_issued_at,
    read_scope,
    require,
    require_command,
    require_intake,
    require_own_customer,
    role_table_markdown,
)
from supportes.auth.principal import Principal, Role

A = Action
CUSTOMER = "customer:00042"
OTHER_CUSTOMER = "customer:00043"
ROOT_CAUSE = {
    "IdentifyRootCause",
    "AttachCase",
    "PlanPreventiveAction",
    "CompletePreventiveAction",
    "VerifyFix",
    "ReopenRootCause",
}
PRIVACY = {"EraseSubject"}
SYSTEM = {"UndoRootCauseLink"}
"""Written by the writer only (a compensation): refused to every principal, admin too."""
CASE = set(COMMAND_PAYLOADS) - ROOT_CAUSE - PRIVACY - SYSTEM
LEAD_ONLY_CASE = {"WaiveRootCause"}
"""Case commands of leads and admins only: an agent's WaiveRootCause is refused (issue 21)."""
CUSTOMER_WRITES = {"OpenCase", "RecordContact", "RecordFollowUp", "RateSatisfaction"}
STAFF_READS = {A.READ_CASES, A.READ_TIMELINE, A.READ_QUEUES, A.READ_REPORTS, A.READ_ROOT_CAUSES}

EXPECTED_ACTIONS: dict[Role, set[Action]] = {
    Role.CUSTOMER: {A.SUBMIT, A.INTAKE, A.READ_CASES, A.READ_TIMELINE},
    Role.AGENT: {A.SUBMIT, A.INTAKE, *STAFF_READS, A.USE_CONSOLE},
    Role.LEAD: {A.SUBMIT, A.INTAKE, *STAFF_READS, A.READ_METRICS, A.USE_CONSOLE},
    Role.INTEGRATION: {A.SUBMIT, A.INTAKE, A.READ_CASES, A.READ_TIMELINE},
    Role.AUDITOR: {
        *STAFF_READS,
        A.READ_HISTORY,
        A.READ_RESPONSIBILITY,
        A.READ_METRICS,
        A.AUDIT_VERIFY,
        A.READ_EVENTS,
        A.USE_CONSOLE,
    },
    Role.ANALYST: {A.READ_REPORTS, A.READ_METRICS, A.READ_EVENTS},
    Role.ADMIN: set(Action),
}
"""Role -> the actions it may do."""
EXPECTED_COMMANDS: dict[Role, set[str]] = {
    Role.CUSTOMER: CUSTOMER_WRITES,
    Role.AGENT: CASE - LEAD_ONLY_CASE,
    Role.LEAD: CASE | ROOT_CAUSE,
    Role.INTEGRATION: CUSTOMER_WRITES,  # on behalf of a customer only
    Role.AUDITOR: set(),
    Role.ANALYST: set(),
    Role.ADMIN: set(COMMAND_PAYLOADS) - SYSTEM,
}
"""Role -> the command types it may write."""

PRINCIPALS = {
    Role.CUSTOMER: Principal(CUSTOMER, frozenset({Role.CUSTOMER})),
    Role.AGENT: Principal("agent:maria", frozenset({Role.AGENT})),
    Role.LEAD: Principal("agent:lea", frozenset({Role.LEAD})),
    Role.INTEGRATION: Principal("integration:mail", frozenset({Role.INTEGRATION})),
    Role.AUDITOR: Principal("auditor:ann", frozenset({Role.AUDITOR})),
    Role.ANALYST: Principal("analyst:al", frozenset({Role.ANALYST})),
    Role.ADMIN: Principal("admin:root", frozenset({Role.ADMIN})),
}


def _payload(command_type: str, customer: str = CUSTOMER) -> dict[str, Any]:
    if command_type == "EraseSubject":
        return {"customer_id": customer, "key_fingerprints": ["0" * 64]}
    if command_type == "OpenCase":
        return {"customer_id": customer, "channel": "email", "subject": "s", "description": "d"}
    if command_type == "RecordContact":
        return {"direction": "inbound", "channel": "email", "summary": "hi"}
    return {}


def test_the_table_covers_every_role_and_classifies_every_command() -> None:
    assert set(ROLE_TABLE) == set(Role)
    assert set(EXPECTED_ACTIONS) == set(Role) == set(PRINCIPALS)
    assert CASE_COMMANDS == CASE
    assert ROOT_CAUSE_COMMANDS == ROOT_CAUSE
    assert PRIVACY_COMMANDS == PRIVACY
    assert SYSTEM_COMMANDS == SYSTEM
    assert set(COMMAND_PAYLOADS) == (
        CASE_COMMANDS | ROOT_CAUSE_COMMANDS | PRIVACY_COMMANDS | SYSTEM_COMMANDS
    )
    assert not CASE_COMMANDS & ROOT_CAUSE_COMMANDS
    assert not (CASE_COMMANDS | ROOT_CAUSE_COMMANDS) & PRIVACY_COMMANDS
    assert not (CASE_COMMANDS | ROOT_CAUSE_COMMANDS | PRIVACY_COMMANDS) & SYSTEM_COMMANDS


@pytest.mark.parametrize(("role", "action"), list(product(Role, Action)))
def test_every_role_against_every_action(role: Role, action: Action) -> None:
    principal = PRINCIPALS[role]
    expected = action in EXPECTED_ACTIONS[role]
    assert allows(principal, action) is expected
    if expected:
        require(principal, action)
    else:
        with pytest.raises(Forbidden, match=action.value.replace("_", " ")):
            require(principal, action)


@pytest.mark.parametrize(("role", "command_type"), list(product(Role, sorted(COMMAND_PAYLOADS))))
def test_every_role_against_every_command_type(role: Role, command_type: str) -> None:
    principal = PRINCIPALS[role]
    expected = command_type in EXPECTED_COMMANDS[role]
    on_behalf_of = CUSTOMER if role is Role.INTEGRATION else None

    def attempt() -> Attested:
        return require_command(
            principal,
            command_type,
            on_behalf_of=on_behalf_of,
            actor_id=None,
            payload=_payload(command_type),
        )

    if not expected:
        with pytest.raises(Forbidden):
            attempt()
        return
    attested = attempt()
    actor, via = attested  # unpacks like the (actor, via) pair of the interface
    assert (actor, via) == (attested.actor, attested.via)
    if role is Role.INTEGRATION:
        assert attested == (
            Actor(id=CUSTOMER, kind=ActorKind.CUSTOMER),
            Via(id="integration:mail", kind="integration"),
        )
    elif role is Role.CUSTOMER:
        assert attested == (Actor(id=CUSTOMER, kind=ActorKind.CUSTOMER), None)
    else:
        assert attested == (Actor(id=principal.id, kind=ActorKind.AGENT), None)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.INTEGRATION])
def test_only_integrations_act_on_behalf_of_a_customer(role: Role) -> None:
    writes = A.SUBMIT in EXPECTED_ACTIONS[role]
    with pytest.raises(Forbidden, match="only an integration" if writes else "may not submit"):
        require_command(
            PRINCIPALS[role],
            "RecordContact",
            on_behalf_of=CUSTOMER,
            actor_id=None,
            payload=_payload("RecordContact"),
        )


@pytest.mark.parametrize("command_type", sorted(CUSTOMER_WRITES))
def test_an_integration_never_writes_as_itself(command_type: str) -> None:
    with pytest.raises(Forbidden, match="only on behalf of a customer"):
        require_command(
            PRINCIPALS[Role.INTEGRATION],
            command_type,
            on_behalf_of=None,
            actor_id=None,
            payload=_payload(command_type),
        )


@pytest.mark.parametrize("on_behalf_of", ["agent:maria", "customer:", " customer:1", "00042"])
def test_on_behalf_of_must_name_a_customer(on_behalf_of: str) -> None:
    with pytest.raises(Forbidden, match="customer id"):
        require_command(
            PRINCIPALS[Role.INTEGRATION],
            "RecordContact",
            on_behalf_of=on_behalf_of,
            actor_id=None,
            payload=_payload("RecordContact"),
        )


@pytest.mark.parametrize("role", list(Role))
def test_a_body_naming_another_actor_is_refused(role: Role) -> None:
    principal = PRINCIPALS[role]
    command_type = "RecordContact" if role is not Role.LEAD else "IdentifyRootCause"
    if command_type not in EXPECTED_COMMANDS[role]:
        pytest.skip("the role writes nothing")
    on_behalf_of = CUSTOMER if role is Role.INTEGRATION else None
    own = actor_of(principal).id if on_behalf_of is None else CUSTOMER
    for named in ("agent:someone-else", OTHER_CUSTOMER, principal.id + "x"):
        with pytest.raises(Forbidden, match="names actor"):
            require_command(
                principal,
                command_type,
                on_behalf_of=on_behalf_of,
                actor_id=named,
                payload=_payload(command_type),
            )
    attested = require_command(
        principal,
        command_type,
        on_behalf_of=on_behalf_of,
        actor_id=own,
        payload=_payload(command_type),
    )
    assert attested.actor.id == own


@pytest.mark.parametrize(
    ("principal", "on_behalf_of"),
    [(PRINCIPALS[Role.CUSTOMER], None), (PRINCIPALS[Role.INTEGRATION], CUSTOMER)],
)
def test_customers_open_cases_and_record_contacts_only_for_themselves(
    principal: Principal, on_behalf_of: str | None
) -> None:
    def submit(command_type: str, payload: dict[str, Any] | None) -> Attested:
        return require_command(
            principal, command_type, on_behalf_of=on_behalf_of, actor_id=None, payload=payload
        )

    assert submit("OpenCase", _payload("OpenCase")).actor.id == CUSTOMER
    with pytest.raises(Forbidden, match="only for itself"):
        submit("OpenCase", _payload("OpenCase", OTHER_CUSTOMER))
    with pytest.raises(Forbidden, match="only for itself"):
        submit("OpenCase", None)  # no payload: cannot be checked, so refused
    with pytest.raises(Forbidden, match="inbound contacts only"):
        submit("RecordContact", {**_payload("RecordContact"), "direction": "outbound"})
    with pytest.raises(Forbidden, match="inbound contacts only"):
        submit("RecordContact", None)
    assert submit("RateSatisfaction", {"score": 5}).actor.kind is ActorKind.CUSTOMER


def test_staff_open_cases_for_any_customer() -> None:
    attested = require_command(
        PRINCIPALS[Role.AGENT],
        "OpenCase",
        on_behalf_of=None,
        actor_id=None,
        payload=_payload("OpenCase", OTHER_CUSTOMER),
    )
    assert attested.actor == Actor(id="agent:maria", kind=ActorKind.AGENT)
    assert attested.via is None


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_erases_a_subject(role: Role) -> None:
    for on_behalf_of in (None, CUSTOMER):
        with pytest.raises(Forbidden):
            require_command(
                PRINCIPALS[role],
                "EraseSubject",
                on_behalf_of=on_behalf_of,
                actor_id=None,
                payload=_payload("EraseSubject"),
            )


def test_an_admin_erases_a_subject_as_itself() -> None:
    attested = require_command(
        PRINCIPALS[Role.ADMIN],
        "EraseSubject",
        on_behalf_of=None,
        actor_id=None,
        payload=_payload("EraseSubject"),
    )
    assert attested == (Actor(id="admin:root", kind=ActorKind.AGENT), None)


def test_an_erasure_refusal_names_the_privacy_action() -> None:
    staff = PRINCIPALS[Role.LEAD]
    assert allows(staff, A.SUBMIT)
    assert not allows(staff, A.MANAGE_PRIVACY)
    with pytest.raises(Forbidden, match="manage privacy"):
        require_command(staff, "EraseSubject", on_behalf_of=None, actor_id=None)


def test_unknown_command_types_are_refused() -> None:
    with pytest.raises(Forbidden, match="unknown command type"):
        require_command(PRINCIPALS[Role.ADMIN], "DropTables", on_behalf_of=None, actor_id=None)


def test_several_roles_add_up() -> None:
    both = Principal("agent:lea", frozenset({Role.AGENT, Role.ANALYST}))
    assert allows(both, A.READ_METRICS)
    assert allows(both, A.READ_QUEUES)
    assert allows_command(both, "Resolve")
    assert not allows_command(both, "VerifyFix")
    staff_integration = Principal("integration:desk", frozenset({Role.INTEGRATION, Role.AGENT}))
    as_itself = require_command(
        staff_integration, "Resolve", on_behalf_of=None, actor_id=None, payload={}
    )
    assert as_itself == (Actor(id="integration:desk", kind=ActorKind.AGENT), None)
    assert read_scope(staff_integration) is Scope.ALL


def test_nobody_without_roles_may_do_anything() -> None:
    nobody = Principal("agent:nobody", frozenset())
    assert not any(allows(nobody, action) for action in Action)
    assert not any(allows_command(nobody, t) for t in COMMAND_PAYLOADS)
    assert read_scope(nobody) is None


def test_which_cases_each_role_sees() -> None:
    own = {"case_customer_id": CUSTOMER, "via_ids": frozenset[str]()}
    others = {"case_customer_id": OTHER_CUSTOMER, "via_ids": frozenset({"integration:mail"})}
    seen = {
        role: (case_visible(p, **own), case_visible(p, **others))  # type: ignore[arg-type]
        for role, p in PRINCIPALS.items()
    }
    assert seen == {
        Role.CUSTOMER: (True, False),
        Role.AGENT: (True, True),
        Role.LEAD: (True, True),
        Role.INTEGRATION: (False, True),
        Role.AUDITOR: (True, True),
        Role.ANALYST: (False, False),
        Role.ADMIN: (True, True),
    }
    assert read_scope(PRINCIPALS[Role.CUSTOMER]) is Scope.OWN
    assert read_scope(PRINCIPALS[Role.INTEGRATION]) is Scope.ACTED_ON


def test_customer_actors_write_only_to_their_own_cases() -> None:
    for principal, on_behalf_of in (
        (PRINCIPALS[Role.CUSTOMER], None),
        (PRINCIPALS[Role.INTEGRATION], CUSTOMER),
    ):
        attested = require_command(
            principal, "RecordFollowUp", on_behalf_of=on_behalf_of, actor_id=None, payload={}
        )
        assert case_writable(attested, case_customer_id=CUSTOMER)
        assert not case_writable(attested, case_customer_id=OTHER_CUSTOMER)
        assert not case_writable(attested.actor, case_customer_id=OTHER_CUSTOMER)
    agent = require_command(
        PRINCIPALS[Role.AGENT], "RecordFollowUp", on_behalf_of=None, actor_id=None, payload={}
    )
    assert case_writable(agent, case_customer_id=OTHER_CUSTOMER)


def test_intake_attests_the_customer() -> None:
    customer = PRINCIPALS[Role.CUSTOMER]
    assert require_intake(customer, customer_id=CUSTOMER).actor.id == CUSTOMER
    with pytest.raises(Forbidden, match="may not act for customer"):
        require_intake(customer, customer_id=OTHER_CUSTOMER)
    mail = PRINCIPALS[Role.INTEGRATION]
    assert require_intake(mail, customer_id=CUSTOMER) == (
        Actor(id=CUSTOMER, kind=ActorKind.CUSTOMER),
        Via(id="integration:mail", kind="integration"),
    )
    with pytest.raises(Forbidden, match="may not act for customer"):
        require_intake(mail, customer_id=CUSTOMER, on_behalf_of=OTHER_CUSTOMER)
    with pytest.raises(Forbidden, match="names actor"):
        require_intake(mail, customer_id=CUSTOMER, actor_id="agent:maria")
    agent = require_intake(PRINCIPALS[Role.AGENT], customer_id=OTHER_CUSTOMER)
    assert agent == (Actor(id="agent:maria", kind=ActorKind.AGENT), None)
    with pytest.raises(Forbidden, match="only an integration"):
        require_intake(PRINCIPALS[Role.AGENT], customer_id=CUSTOMER, on_behalf_of=CUSTOMER)
    for role in (Role.AUDITOR, Role.ANALYST):
        with pytest.raises(Forbidden, match="may not intake"):
            require_intake(PRINCIPALS[role], customer_id=CUSTOMER)


def test_require_own_customer() -> None:
    require_own_customer(PRINCIPALS[Role.CUSTOMER], CUSTOMER)
    require_own_customer(PRINCIPALS[Role.AGENT], OTHER_CUSTOMER)
    require_own_customer(PRINCIPALS[Role.INTEGRATION], CUSTOMER, on_behalf_of=CUSTOMER)
    with pytest.raises(Forbidden):
        require_own_customer(PRINCIPALS[Role.CUSTOMER], OTHER_CUSTOMER)
    with pytest.raises(Forbidden):
        require_own_customer(PRINCIPALS[Role.INTEGRATION], OTHER_CUSTOMER, on_behalf_of=CUSTOMER)


def test_only_admins_give_issued_at() -> None:
    assert {r for r, p in PRINCIPALS.items() if may_set_issued_at(p)} == {Role.ADMIN}


def test_the_table_prints_as_markdown() -> None:
    text = role_table_markdown()
    assert text.startswith("| role | may write | may read |\n|---|---|---|\n")
    for role in Role:
        assert f"| `{role.value}` |" in text
    assert len(text.splitlines()) == 2 + len(Role)
