"""Who may do what: the one place that decides (design section 8's role table, as data).

Pure functions over a :class:`~supportes.auth.principal.Principal`; no I/O. The HTTP layer calls
:func:`require` for every endpoint's :class:`Action`, :func:`require_command` for every command
(it also decides the attested ``actor`` and ``via``), :func:`case_visible` for every case it
shows and :func:`case_writable` for every command on an existing case. A refusal is
:class:`Forbidden` (403); a case another customer owns is not visible (the API answers 404).

:data:`ROLE_TABLE` is the table itself: one :class:`Grant` per role. A principal with several
roles may do what any of them may.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from supportes.aggregates.case import Case
from supportes.aggregates.commands import COMMAND_PAYLOADS
from supportes.aggregates.data_subject import DataSubject
from supportes.aggregates.dispatch import ROUTES
from supportes.aggregates.root_cause import RootCause
from supportes.aggregates.values import Actor, ActorKind, Via
from supportes.aggregates.wire import AggregateClass
from supportes.auth.principal import CUSTOMER_PREFIX, Principal, Role


class Action(StrEnum):
    """Everything an endpoint may ask permission for (commands are checked by type as well)."""

    SUBMIT = "submit"
    """Send commands (``POST /v1/commands``); each type is then checked on its own."""
    INTAKE = "intake"
    """Channel intake (``POST /v1/contacts``)."""
    IMPORT_HISTORY = "import_history"
    """Give a command's ``issued_at`` instead of the server's clock (importing old history)."""
    READ_CASES = "read_cases"
    READ_TIMELINE = "read_timeline"
    READ_HISTORY = "read_history"
    """A case as it was at a time (``history?as_of=``)."""
    READ_RESPONSIBILITY = "read_responsibility"
    READ_QUEUES = "read_queues"
    READ_REPORTS = "read_reports"
    READ_METRICS = "read_metrics"
    READ_ROOT_CAUSES = "read_root_causes"
    AUDIT_VERIFY = "audit_verify"
    READ_EVENTS = "read_events"
    """The raw event feed (``/v1/events``)."""
    MANAGE_TOKENS = "manage_tokens"
    MANAGE_PRIVACY = "manage_privacy"
    """Personal-data erasure and export."""
    USE_CONSOLE = "use_console"
    """Sign in to the web console (``/console``): staff who work cases or audit them."""


class Scope(StrEnum):
    """Which cases a reading role sees."""

    ALL = "all"
    OWN = "own"
    """A customer: the cases whose ``customer_id`` is its own."""
    ACTED_ON = "acted_on"
    """An integration: the cases with an event it wrote (``via`` = the integration)."""


class Forbidden(Exception):  # noqa: N818 - the name of the shared interface
    """The principal may not do this (HTTP 403). ``message`` is safe to show the caller."""

    code = "forbidden"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Attested(NamedTuple):
    """Who a command is written as: ``actor``, and ``via`` when an integration acts for them."""

    actor: Actor
    via: Via | None


def _commands_of(aggregate: AggregateClass) -> frozenset[str]:
    return frozenset(t for t, route in ROUTES.items() if route.aggregate_class is aggregate)


ALL_COMMANDS: Final = frozenset(COMMAND_PAYLOADS)
SYSTEM_COMMANDS: Final = frozenset({"UndoRootCauseLink"})
"""Written by supportes itself only (the writer's compensation of a refused follow-on), never
by a principal: not even an ``admin`` may forge one."""
CASE_COMMANDS: Final = _commands_of(Case) - SYSTEM_COMMANDS
"""Every command on a case a principal may write."""
LEAD_CASE_COMMANDS: Final = frozenset({"WaiveRootCause"})
"""Case commands for leads (and admins) only: ruling out a root cause (issue 21)."""
ROOT_CAUSE_COMMANDS: Final = _commands_of(RootCause)
"""The root-cause commands (``IdentifyRootCause`` ... ``ReopenRootCause``)."""
PRIVACY_COMMANDS: Final = _commands_of(DataSubject)
"""Personal-data erasure (``EraseSubject``): ``admin`` only, and only with
:attr:`Action.MANAGE_PRIVACY`."""
CUSTOMER_COMMANDS: Final = frozenset(
    {"OpenCase", "RecordContact", "RecordFollowUp", "RateSatisfaction"}
)
"""What a customer may write (itself, or an integration on its behalf)."""
OWN_CASE_COMMANDS: Final = CUSTOMER_COMMANDS - {"OpenCase"}
"""Customer commands on an existing case: only on the customer's own cases."""

_CASE_READS = frozenset({Action.READ_CASES, Action.READ_TIMELINE})
_STAFF = frozenset(
    {
        Action.SUBMIT,
        Action.INTAKE,
        *_CASE_READS,
        Action.READ_QUEUES,
        Action.READ_REPORTS,
        Action.READ_ROOT_CAUSES,
    }
)
_EVERYTHING_READ = frozenset(a for a in Action if a.value.startswith("read_")) | {
    Action.AUDIT_VERIFY
}


@dataclass(frozen=True)
class Grant:
    """One row of the role table: what the role may do, and the design's words for it."""

    may_write: str
    may_read: str
    actions: frozenset[Action]
    commands: frozenset[str] = frozenset()
    on_behalf_only: bool = False
    """The commands only with ``on_behalf_of`` a customer (actor = that customer)."""
    scope: Scope | None = None
    """Which cases the role reads (None: no case reads)."""


ROLE_TABLE: Final[Mapping[Role, Grant]] = MappingProxyType(
    {
        Role.CUSTOMER: Grant(
            may_write="OpenCase for itself, inbound contacts (RecordContact), "
            "RecordFollowUp/RateSatisfaction on its own cases",
            may_read="its own cases: view and timeline",
            actions=frozenset({Action.SUBMIT, Action.INTAKE, *_CASE_READS}),
            commands=CUSTOMER_COMMANDS,
            scope=Scope.OWN,
        ),
        Role.AGENT: Grant(
            may_write="every case command except WaiveRootCause",
            may_read="cases, timelines, root causes, queues, reports",
            actions=_STAFF | {Action.USE_CONSOLE},
            commands=CASE_COMMANDS - LEAD_CASE_COMMANDS,
            scope=Scope.ALL,
        ),
        Role.LEAD: Grant(
            may_write="as agent, plus WaiveRootCause and root-cause commands",
            may_read="as agent, plus metrics",
            actions=_STAFF | {Action.READ_METRICS, Action.USE_CONSOLE},
            commands=CASE_COMMANDS | ROOT_CAUSE_COMMANDS,
            scope=Scope.ALL,
        ),
        Role.INTEGRATION: Grant(
            may_write="what a customer may, only on behalf of a customer (channel intake)",
            may_read="the cases it acts on: view and timeline",
            actions=frozenset({Action.SUBMIT, Action.INTAKE, *_CASE_READS}),
            commands=CUSTOMER_COMMANDS,
            on_behalf_only=True,
            scope=Scope.ACTED_ON,
        ),
        Role.AUDITOR: Grant(
            may_write="nothing",
            may_read="everything, including history as_of, responsibility, audit verify, "
            "the event feed",
            actions=_EVERYTHING_READ | {Action.USE_CONSOLE},
            scope=Scope.ALL,
        ),
        Role.ANALYST: Grant(
            may_write="nothing",
            may_read="reports, metrics, the event feed",
            actions=frozenset({Action.READ_REPORTS, Action.READ_METRICS, Action.READ_EVENTS}),
        ),
        Role.ADMIN: Grant(
            may_write="everything: every command, tokens, personal-data erasure and export, "
            "issued_at of imported history",
            may_read="everything",
            actions=frozenset(Action),
            commands=ALL_COMMANDS - SYSTEM_COMMANDS,
            scope=Scope.ALL,
        ),
    }
)
"""The role table of design section 8 (README prints it with :func:`role_table_markdown`)."""


def allows(principal: Principal, action: Action) -> bool:
    """True when one of the principal's roles grants ``action``."""
    return any(action in ROLE_TABLE[role].actions for role in principal.roles)


def require(principal: Principal, action: Action) -> None:
    """Raise :class:`Forbidden` unless the principal may do ``action``."""
    if not allows(principal, action):
        raise Forbidden(f"{_who(principal)} may not {action.value.replace('_', ' ')}")


def allows_command(principal: Principal, command_type: str, *, on_behalf: bool = False) -> bool:
    """True when a role grants ``command_type``, as itself (or ``on_behalf`` of a customer).

    The role check only: :func:`require_command` adds the actor and payload rules.
    """
    if not allows(principal, Action.SUBMIT):
        return False
    return any(
        command_type in grant.commands and grant.on_behalf_only == on_behalf
        for grant in (ROLE_TABLE[role] for role in principal.roles)
    )


def actor_of(principal: Principal) -> Actor:
    """The actor a principal writes as: a customer as ``customer``, anyone else as ``agent``."""
    if principal.customer_id is not None:
        return Actor(id=principal.customer_id, kind=ActorKind.CUSTOMER)
    return Actor(id=principal.id, kind=ActorKind.AGENT)


def require_command(
    principal: Principal,
    command_type: str,
    *,
    on_behalf_of: str | None,
    actor_id: str | None,
    payload: Mapping[str, Any] | None = None,
) -> Attested:
    """Decide who ``command_type`` is written as, or raise :class:`Forbidden`.

    - ``actor_id`` (an actor the request body names) must be the attested actor: naming
      anyone else is refused.
    - ``on_behalf_of`` (a ``customer:<id>``) only for an ``integration``: the actor is then the
      customer and ``via`` the integration; otherwise ``via`` is None.
    - The command type must be in the role table for the principal's roles; the
      :data:`PRIVACY_COMMANDS` (``EraseSubject``) also need :attr:`Action.MANAGE_PRIVACY`.
    - A customer actor (a customer, or an integration on one's behalf) opens cases only for
      itself (``payload.customer_id``) and records only inbound contacts
      (``payload.direction``): pass the raw ``payload``; without it those two are refused.
      For the commands in :data:`OWN_CASE_COMMANDS` the caller must also check the case:
      :func:`case_writable`.

    Unknown command types are refused here too; validate the type first for a 422.
    """
    require(principal, Action.SUBMIT)
    if command_type not in ALL_COMMANDS:
        raise Forbidden(f"unknown command type {command_type!r}")
    if command_type in SYSTEM_COMMANDS:
        raise Forbidden(f"{command_type} is written by supportes itself, never by a principal")
    if command_type in PRIVACY_COMMANDS:
        require(principal, Action.MANAGE_PRIVACY)
    if on_behalf_of is not None:
        if not principal.has(Role.INTEGRATION):
            raise Forbidden("only an integration may act on behalf of a customer")
        if not _is_customer_id(on_behalf_of):
            raise Forbidden(
                f"on_behalf_of must be a customer id (customer:<id>), not {on_behalf_of!r}"
            )
        if not allows_command(principal, command_type, on_behalf=True):
            raise Forbidden(f"{command_type} cannot be written on behalf of a customer")
        attested = Attested(
            Actor(id=on_behalf_of, kind=ActorKind.CUSTOMER),
            Via(id=principal.id, kind="integration"),
        )
    else:
        if not allows_command(principal, command_type):
            if allows_command(principal, command_type, on_behalf=True):
                raise Forbidden(
                    f"{_who(principal)} writes {command_type} only on behalf of a customer "
                    "(on_behalf_of)"
                )
            raise Forbidden(f"{_who(principal)} may not write {command_type}")
        attested = Attested(actor_of(principal), None)
    if actor_id is not None and actor_id != attested.actor.id:
        raise Forbidden(
            f"the request names actor {actor_id!r}, but it is written as {attested.actor.id!r}"
        )
    if attested.actor.kind is ActorKind.CUSTOMER:
        _check_customer_payload(attested.actor.id, command_type, payload)
    return attested


def require_own_customer(
    principal: Principal, customer_id: str, *, on_behalf_of: str | None = None
) -> None:
    """Raise :class:`Forbidden` when a customer (or an integration for one) names another one.

    Staff principals may name any customer. Used for ``OpenCase`` and channel intake.
    """
    customer = on_behalf_of if on_behalf_of is not None else principal.customer_id
    if customer is not None and customer_id != customer:
        raise Forbidden(f"{customer} may not act for customer {customer_id!r}")


def require_intake(
    principal: Principal,
    *,
    customer_id: str,
    on_behalf_of: str | None = None,
    actor_id: str | None = None,
) -> Attested:
    """Decide who a channel-intake message (``POST /v1/contacts``) is written as.

    A customer: only for itself. An integration (without other writing roles): always for the
    customer, ``on_behalf_of`` defaulting to ``customer_id`` (when given it must match).
    Staff: as themselves, for any customer.
    """
    require(principal, Action.INTAKE)
    if on_behalf_of is None and principal.has(Role.INTEGRATION) and not _writes_itself(principal):
        on_behalf_of = customer_id
    if on_behalf_of is not None:
        if not principal.has(Role.INTEGRATION):
            raise Forbidden("only an integration may act on behalf of a customer")
        if not _is_customer_id(on_behalf_of):
            raise Forbidden(
                f"on_behalf_of must be a customer id (customer:<id>), not {on_behalf_of!r}"
            )
        attested = Attested(
            Actor(id=on_behalf_of, kind=ActorKind.CUSTOMER),
            Via(id=principal.id, kind="integration"),
        )
    else:
        attested = Attested(actor_of(principal), None)
    if actor_id is not None and actor_id != attested.actor.id:
        raise Forbidden(
            f"the request names actor {actor_id!r}, but it is written as {attested.actor.id!r}"
        )
    if attested.actor.kind is ActorKind.CUSTOMER and customer_id != attested.actor.id:
        raise Forbidden(f"{attested.actor.id} may not act for customer {customer_id!r}")
    return attested


def read_scope(principal: Principal) -> Scope | None:
    """The widest case scope of the principal's roles (None: it reads no cases).

    A listing filters by it: ``OWN`` -> ``customer_id = principal.customer_id``; ``ACTED_ON`` ->
    cases with an event whose ``via_id`` is the principal.
    """
    scopes = {ROLE_TABLE[role].scope for role in principal.roles} - {None}
    for scope in (Scope.ALL, Scope.ACTED_ON, Scope.OWN):
        if scope in scopes:
            return scope
    return None


def case_visible(principal: Principal, *, case_customer_id: str, via_ids: Iterable[str]) -> bool:
    """True when the principal may see this case at all (if not, the API answers 404).

    A customer sees its own cases; an integration the cases it has acted on (``via_ids``: the
    ``via`` ids on the case's events); agents, leads, auditors and admins every case; a role
    that reads no cases (analyst) none. Whether the endpoint itself is allowed is
    :func:`require`'s business.
    """
    scope = read_scope(principal)
    if scope is Scope.ALL:
        return True
    if scope is Scope.OWN:
        return case_customer_id == principal.customer_id
    if scope is Scope.ACTED_ON:
        return principal.id in frozenset(via_ids)
    return False


def case_writable(attested: Attested | Actor, *, case_customer_id: str) -> bool:
    """True when the attested actor may write to a case of ``case_customer_id``.

    A customer actor (a customer, or an integration on its behalf) only to its own cases; staff
    to any. Call it for commands on existing cases; answer 404 when False for a customer.
    """
    actor = attested.actor if isinstance(attested, Attested) else attested
    return actor.kind is not ActorKind.CUSTOMER or actor.id == case_customer_id


def may_set_issued_at(principal: Principal) -> bool:
    """True when a client-given ``issued_at`` is honoured (importing history: admin)."""
    return allows(principal, Action.IMPORT_HISTORY)


def role_table_markdown() -> str:
    """The role table as a Markdown table (for the README and ``--help`` texts)."""
    lines = ["| role | may write | may read |", "|---|---|---|"]
    for role, grant in ROLE_TABLE.items():
        lines.append(f"| `{role.value}` | {grant.may_write} | {grant.may_read} |")
    return "\n".join(lines) + "\n"


def _check_customer_payload(
    customer: str, command_type: str, payload: Mapping[str, Any] | None
) -> None:
    if command_type == "OpenCase":
        named = payload.get("customer_id") if isinstance(payload, Mapping) else None
        if named != customer:
            raise Forbidden(f"{customer} may open cases only for itself (payload.customer_id)")
    elif command_type == "RecordContact":
        direction = payload.get("direction") if isinstance(payload, Mapping) else None
        if direction != "inbound":
            raise Forbidden(f"{customer} may record inbound contacts only (payload.direction)")


def _writes_itself(principal: Principal) -> bool:
    return any(
        ROLE_TABLE[role].commands and not ROLE_TABLE[role].on_behalf_only
        for role in principal.roles
    )


def _is_customer_id(value: str) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(CUSTOMER_PREFIX)
        and len(value) > len(CUSTOMER_PREFIX)
        and len(value) <= 200
        and value.strip() == value
    )


def _who(principal: Principal) -> str:
    roles = ", ".join(sorted(r.value for r in principal.roles)) or "no role"
    return f"{principal.id} ({roles})"
