"""Private, temporary corners of the running stack: topics under a fresh prefix, a database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2.extensions
from psycopg2 import sql

from supportes.db.admin import drop_database
from supportes.db.connect import connect
from supportes.logs import get_logger
from supportes.settings import Settings
from supportes.stack.kafka_acls import drop_acls
from supportes.stack.kafka_admin import admin_client, ensure_topics, topic_specs

log = get_logger("bench")


def token() -> str:
    """A short random hex token for scratch names."""
    return uuid.uuid4().hex[:10]


def child_env(scratch: Settings) -> dict[str, str]:
    """What a child ``supportes`` process needs to reach ``scratch``'s topics, beside its own
    environment: the topic prefix, and the bootstrap servers of a configured cluster only (set
    for the local broker, it would turn the local stack's SASL credentials off)."""
    env = {
        "SUPPORTES_TOPIC_PREFIX": scratch.topic_prefix,
        "SUPPORTES_PARTITIONS": str(scratch.partitions),
        "SUPPORTES_HOME": str(scratch.home_dir),
    }
    if scratch.kafka_bootstrap is not None:
        env["SUPPORTES_KAFKA_BOOTSTRAP"] = scratch.kafka_bootstrap
    return env


@contextlib.contextmanager
def scratch_topics(settings: Settings, partitions: int | None = None) -> Iterator[Settings]:
    """Settings whose topic prefix is a fresh ``bench-<hex>`` with the topics created.

    The topics (all of :func:`~supportes.stack.kafka_admin.topic_specs`) are deleted afterwards.
    """
    update: dict[str, object] = {"topic_prefix": f"bench-{token()}"}
    if partitions is not None:
        update["partitions"] = partitions
    scratch = settings.model_copy(update=update)
    ensure_topics(scratch)
    try:
        yield scratch
    finally:
        names = [spec.name for spec in topic_specs(scratch)]
        try:
            with admin_client(scratch, scratch.connect_timeout_s) as admin:
                admin.delete_topics(names, timeout_ms=30_000)
                drop_acls(scratch, admin)
        except Exception as exc:  # cleanup must not hide the benchmark's own error
            log.warning("could not delete scratch topics", topics=names, error=str(exc))


@contextlib.contextmanager
def scratch_database(settings: Settings) -> Iterator[str]:
    """The DSN of a fresh PostgreSQL database ``bench_<hex>``, dropped (FORCE) afterwards."""
    name = f"bench_{token()}"
    admin = connect(settings.dsn, timeout_s=settings.connect_timeout_s)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield psycopg2.extensions.make_dsn(settings.dsn, dbname=name)
        finally:
            drop_database(admin, name)
    finally:
        admin.close()
