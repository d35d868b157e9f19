"""The ACLs of design section 8 for one topic prefix, and the SCRAM users behind them.

Per prefix ``P`` (``supportes`` by default), each component's principal gets exactly:

- writer: READ ``P.commands``, ``P.events``, ``P.results`` (its consumer and its catch-up);
  WRITE ``P.events``, ``P.results``, ``P.dead-letters`` and ``P.commands`` (follow-on
  commands); group READ on groups prefixed ``P-writer`` and transactional ids prefixed
  ``P-writer-`` (ids are ``<group>-<instance>``), plus the fixed names ``supportes-writer``
  (``serve``'s default ``--group-id``) and ``supportes-writer-`` (manual assignment's
  ``supportes-writer-p<N>``).
- projector: READ ``P.events``; WRITE ``P.dead-letters``; groups prefixed ``P-projector``.
- api: WRITE ``P.commands``; READ ``P.results`` and ``P.events``; groups prefixed ``P-api``.
- auditor: READ ``P.events``.
- admin: none (a super user).

Topics are LITERAL. Groups and transactional ids are PREFIXED by component name so that no
principal can join another component's group (a member in the writer's group would be handed
commands partitions it cannot read) or fence another's transactions. A group-less reader (the
API's result reader, the auditor) needs no group ACL.
"""

from __future__ import annotations

import time
from typing import Any

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka.errors import SecurityDisabledError

from supportes.errors import StackError
from supportes.logs import get_logger
from supportes.messaging.security import Component, principal_of
from supportes.settings import Settings

log = get_logger("stack.kafka")

READ, WRITE = ACLOperation.READ, ACLOperation.WRITE
TOPIC, GROUP, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
LITERAL, PREFIXED = ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED
DEFAULT_WRITER_GROUP = "supportes-writer"
"""``serve``'s default writer group whatever the prefix (design section 2)."""

Rule = tuple[Component, ResourceType, str, ACLResourcePatternType, ACLOperation]


def acl_rules(settings: Settings) -> list[Rule]:
    """The grants of the module docstring for ``settings.topic_prefix``, as plain tuples."""
    p, t = settings.topic_prefix, settings.topic
    writer, projector = Component.WRITER, Component.PROJECTOR
    api, auditor = Component.API, Component.AUDITOR
    rules: list[Rule] = [
        *((writer, TOPIC, t(n), LITERAL, READ) for n in ("commands", "events", "results")),
        *(
            (writer, TOPIC, t(n), LITERAL, WRITE)
            for n in ("events", "results", "dead-letters", "commands")
        ),
        (writer, GROUP, f"{p}-writer", PREFIXED, READ),
        (writer, TXN, f"{p}-writer-", PREFIXED, WRITE),
        (writer, GROUP, DEFAULT_WRITER_GROUP, PREFIXED, READ),
        (writer, TXN, f"{DEFAULT_WRITER_GROUP}-", PREFIXED, WRITE),
        (projector, TOPIC, t("events"), LITERAL, READ),
        (projector, TOPIC, t("dead-letters"), LITERAL, WRITE),
        (projector, GROUP, f"{p}-projector", PREFIXED, READ),
        (api, TOPIC, t("commands"), LITERAL, WRITE),
        (api, TOPIC, t("results"), LITERAL, READ),
        (api, TOPIC, t("events"), LITERAL, READ),
        (api, GROUP, f"{p}-api", PREFIXED, READ),
        (auditor, TOPIC, t("events"), LITERAL, READ),
    ]
    return list(dict.fromkeys(rules))


def acl_bindings(settings: Settings) -> list[ACL]:
    """:func:`acl_rules` as ALLOW ACLs for each component's principal (none without SASL)."""
    principals = {c: principal_of(settings, c) for c in Component}
    bindings = [
        ACL(
            principal=principals[component],
            host="*",
            operation=operation,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(kind, name, pattern),
        )
        for component, kind, name, pattern, operation in acl_rules(settings)
        if principals[component] is not None
    ]
    return list(dict.fromkeys(bindings))


def existing_acls(admin: Any) -> set[ACL]:
    """Every ACL the cluster has (raises SecurityDisabledError without an authorizer)."""
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    found, _ = admin.describe_acls(everything)
    return set(found)


def ensure_acls(settings: Settings, admin: Any) -> int:
    """Create the missing ACLs of ``settings``' prefix with ``admin`` (a KafkaAdminClient);
    return how many were created. A no-op without SASL, with ``SUPPORTES_KAFKA_MANAGE_ACLS``
    off, or on a cluster without an authorizer."""
    if not settings.kafka_manage_acls:
        return 0
    wanted = acl_bindings(settings)
    if not wanted:
        return 0
    try:
        existing = existing_acls(admin)
        missing = [acl for acl in wanted if acl not in existing]
    except SecurityDisabledError:
        log.info("kafka has no authorizer; ACLs not created", bootstrap=settings.bootstrap_servers)
        return 0
    if missing:
        result = admin.create_acls(missing)
        if result["failed"]:
            raise StackError(f"creating Kafka ACLs failed: {result['failed'][0]}")
        log.info("created kafka acls", prefix=settings.topic_prefix, count=len(missing))
        _await_acls(settings, admin, missing)
    return len(missing)


def _await_acls(settings: Settings, admin: Any, acls: list[ACL]) -> None:
    """Wait until the broker enforces ``acls``: CreateAcls answers once the controller has
    them; the broker's authorizer follows when the metadata reaches it (a second was seen)."""
    deadline = time.monotonic() + settings.connect_timeout_s
    while not set(acls) <= existing_acls(admin):
        if time.monotonic() >= deadline:
            raise StackError(
                f"the broker did not apply {len(acls)} new ACLs within "
                f"{settings.connect_timeout_s:g}s"
            )
        time.sleep(0.1)


def drop_acls(settings: Settings, admin: Any) -> int:
    """Delete the ACLs only ``settings``' prefix uses (its topics, ``P-`` groups and ids; the
    shared ``supportes-writer`` ones stay); return how many went."""
    own = settings.topic_prefix == "supportes"  # then the fixed names are this prefix's own
    patterns = {
        (kind, name, pattern)
        for _, kind, name, pattern, _ in acl_rules(settings)
        if own or kind is TOPIC or not name.startswith(DEFAULT_WRITER_GROUP)
    }
    filters = [
        ACLFilter(
            principal=None,
            host=None,
            operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(kind, name, pattern),
        )
        for kind, name, pattern in sorted(patterns, key=str)
    ]
    try:
        results = admin.delete_acls(filters)
    except SecurityDisabledError:
        return 0
    return sum(len(matched) for _, matched, _ in results)


def scram_mechanism(settings: Settings) -> ScramMechanism:
    """The SCRAM mechanism of ``SUPPORTES_KAFKA_SASL_MECHANISM`` (SCRAM-SHA-512 by default)."""
    name = settings.kafka_sasl_mechanism
    return ScramMechanism.SCRAM_SHA_256 if name == "SCRAM-SHA-256" else ScramMechanism.SCRAM_SHA_512


def ensure_scram_users(admin: Any, users: dict[str, str], mechanism: ScramMechanism) -> list[str]:
    """Give each of ``users`` (name -> password) a SCRAM credential unless it has one for
    ``mechanism``; return the names added. Existing credentials are left as they are."""
    described = admin.describe_user_scram_credentials(list(users))
    missing = [
        name
        for name in users
        if not any(
            info["mechanism"] == mechanism
            for info in described.get(name, {}).get("credential_infos", [])
        )
    ]
    if missing:
        errors = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(name, mechanism, users[name]) for name in missing]
        )
        failed = {name: error for name, error in errors.items() if error}
        if failed:
            raise StackError(f"adding SCRAM users failed: {failed}")
        log.info("added kafka scram users", users=missing)
    return missing
