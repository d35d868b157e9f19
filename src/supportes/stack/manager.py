"""``supportes stack up|down|status``: bring Kafka, topics, PostgreSQL and migrations to a state.

``up`` also creates the local key-encryption key (``<home>/secrets/kek``, design section 9) when
``SUPPORTES_KEK_FILE`` is unset and there is none; a configured KEK file is never made here.

For each part, a configured external service (``SUPPORTES_KAFKA_BOOTSTRAP``/``SUPPORTES_PG_DSN``)
replaces the local one: nothing is started for it, but topics and migrations are still ensured.
A background ``supportes serve --detach`` is part of the stack too: ``status`` shows it (it is
optional) and ``down`` stops it first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg2

from supportes.db.connect import redact_dsn
from supportes.db.migrate import migrate_database
from supportes.errors import ConfigError
from supportes.logs import get_logger
from supportes.messaging.security import legacy_local_broker
from supportes.ops.parked_records import parked_counts
from supportes.privacy.kek import create_kek_file
from supportes.settings import Settings
from supportes.stack import kafka_local, postgres_local, serve_health, serve_process
from supportes.stack.kafka_admin import (
    broker_answers,
    ensure_topics_and_acls,
    require_broker,
    security_summary,
)
from supportes.stack.secrets import secrets_dir

log = get_logger("stack")


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``stack status``."""

    component: str
    running: bool
    managed: str  # "local" (started by supportes) or "external"
    address: str
    detail: str
    required: bool = True  # False: ``status`` does not fail when it is not running

    @property
    def state(self) -> str:
        """``up``, ``DOWN`` (a required part) or ``stopped`` (an optional one)."""
        if self.running:
            return "up"
        return "DOWN" if self.required else "stopped"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)


def up(settings: Settings) -> list[str]:
    """Start what is local and missing, then ensure topics and migrations; return what changed."""
    changes: list[str] = []
    if settings.kafka_is_local:
        if kafka_local.start(settings):
            changes.append(f"started kafka on {settings.bootstrap_servers}")
        users = [] if legacy_local_broker(settings) else kafka_local.ensure_users(settings)
        if users:
            changes.append(f"added kafka users {', '.join(users)}")
    else:
        require_broker(settings)
    created, acls = ensure_topics_and_acls(settings)
    if created:
        changes.append(f"created topics {', '.join(created)}")
    if acls:
        changes.append(f"created {acls} kafka ACLs for prefix {settings.topic_prefix}")
    if settings.kek_file is None:  # the local KEK; a configured one is the operator's to make
        secrets_dir(settings)
        if create_kek_file(settings.kek_path):
            changes.append(f"created the key-encryption key {settings.kek_path}")
    if settings.pg_is_local and postgres_local.start(settings):
        changes.append(f"started postgres on {redact_dsn(settings.dsn)}")
    applied = migrate_database(settings.dsn, timeout_s=settings.connect_timeout_s)
    if applied:
        changes.append("applied migrations " + ", ".join(f"{m.version:04d}" for m in applied))
    log.info("stack up", changes=changes or ["nothing to do"])
    return changes


def down(settings: Settings) -> list[str]:
    """Stop the local servers (external ones are left alone); return what changed."""
    changes: list[str] = []
    if serve_process.stop(settings):
        changes.append("stopped serve")
    if settings.kafka_is_local and kafka_local.stop(settings):
        changes.append("stopped kafka")
    if settings.pg_is_local and postgres_local.stop(settings):
        changes.append("stopped postgres")
    log.info("stack down", changes=changes or ["nothing to do"])
    return changes


def status(settings: Settings) -> list[ComponentStatus]:
    """What runs where; ``running`` is False for anything that does not answer."""
    postgres = _postgres_status(settings)
    found = [_kafka_status(settings), postgres, _serve_status(settings)]
    if postgres.running:
        found.append(_parked_status(settings))
    return found


def _serve_status(settings: Settings) -> ComponentStatus:
    serve = serve_process.state(settings)
    roles = serve_health.read(settings)
    if serve.pid is None:
        detail = "not running (start: supportes serve --detach, or make run)"
        if roles is not None:
            detail = "running in the foreground"
    else:
        detail = f"pid {serve.pid}" + ("" if serve.ready else ", starting")
    if roles:
        detail += "; " + serve_health.describe(roles)
    running = serve.running or roles is not None
    return ComponentStatus("serve", running, "local", str(serve.log_file), detail, False)


def _parked_status(settings: Settings) -> ComponentStatus:
    """Records the index or the projections set aside (never a failure: they are kept)."""
    try:
        counts = parked_counts(settings)
    except (ConfigError, psycopg2.Error) as exc:
        return ComponentStatus("parked", False, "local", "", str(exc).splitlines()[0], False)
    detail = (
        f"{counts['event_index']} in the event index (raw bytes), {counts['projections']} in"
        " projections"
    )
    if any(counts.values()):
        detail += "; list them: supportes projections parked"
    return ComponentStatus("parked", True, "local", redact_dsn(settings.dsn), detail, False)


def _kafka_status(settings: Settings) -> ComponentStatus:
    if settings.kafka_is_local:
        kafka = kafka_local.state(settings)
        detail = f"pid {kafka.pid}, state {kafka.state_dir}" if kafka.pid else "not running"
        if kafka.running:
            detail += f"; {security_summary(settings)}"
        return ComponentStatus("kafka", kafka.running, "local", kafka.bootstrap, detail)
    answers = broker_answers(settings, timeout_s=settings.connect_timeout_s)
    return ComponentStatus(
        "kafka",
        answers,
        "external",
        settings.bootstrap_servers,
        f"answers metadata requests; {security_summary(settings)}" if answers else "unreachable",
    )


def _postgres_status(settings: Settings) -> ComponentStatus:
    address = redact_dsn(settings.dsn)
    if settings.pg_is_local:
        pg = postgres_local.state(settings)
        detail = f"pid {pg.pid}, data {pg.data_dir}" if pg.pid else "not running"
        return ComponentStatus("postgres", pg.running, "local", address, detail)
    try:
        psycopg2.connect(settings.dsn, connect_timeout=int(settings.connect_timeout_s)).close()
    except psycopg2.Error as exc:
        return ComponentStatus("postgres", False, "external", address, str(exc).splitlines()[0])
    return ComponentStatus("postgres", True, "external", address, "accepts connections")
