"""``supportes migrate [--json]``: apply the database migrations, and nothing else.

The one-shot step of a deployment on users' own servers (a Kubernetes Job, a systemd oneshot, a
compose service): the schema, the projections' tables and the roles' grants, applied with the
owner's DSN (``SUPPORTES_PG_DSN``). Unlike ``stack up`` it starts no server and touches no Kafka
topic, ACL or key file. Idempotent: what is applied already is left alone.
"""

from __future__ import annotations

import argparse

from supportes.cli.output import print_json
from supportes.db.migrate import available_migrations, migrate_database
from supportes.logs import get_logger
from supportes.settings import Settings

log = get_logger("migrate")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``migrate`` verb."""
    parser = subparsers.add_parser(
        "migrate",
        help="apply the database migrations (schema, tables, grants) and nothing else",
        description="Apply the PostgreSQL migrations not yet applied, with the owner's DSN "
        "(SUPPORTES_PG_DSN, else the local stack's). No server is started, no Kafka topic or "
        "ACL is touched: the one-shot step of a deployment on your own servers.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Apply what is missing; print what was applied and the schema's version."""
    applied = migrate_database(settings.dsn, timeout_s=settings.connect_timeout_s)
    latest = max((m.version for m in available_migrations()), default=0)
    versions = [f"{m.version:04d}" for m in applied]
    log.info("migrations applied", applied=versions, version=latest)
    if args.json:
        print_json({"applied": versions, "version": f"{latest:04d}"})
    elif versions:
        print(f"applied {', '.join(versions)}; the schema is at {latest:04d}")
    else:
        print(f"nothing to apply; the schema is at {latest:04d}")
    return 0
