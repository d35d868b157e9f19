"""``supportes privacy erase|status|export|reconcile|seal-log``: a data subject's erasure and
access (design section 9), run by an administrator (the owner's PostgreSQL role), and the
one-time sealing of a log written before encryption into a new topic prefix.

One ``_add_<action>`` (arguments) and one ``_<action>`` (run) per action, joined in ``_ACTIONS``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import psycopg2.extensions

from supportes.aggregates.values import Actor, ActorKind
from supportes.cli.output import fail_line, print_json
from supportes.client import SupportesClient
from supportes.db.connect import connect_as
from supportes.ops.privacy import (
    ErasureReport,
    erase_subject,
    erasure_report,
    export_subject,
    reconcile_keys,
)
from supportes.ops.seal_log import seal_log
from supportes.privacy.keystore import PgKeyStore
from supportes.privacy.opener import EventOpener
from supportes.privacy.wiring import key_store
from supportes.settings import PgComponent, Settings
from supportes.stack.kafka_admin import ensure_topics_and_acls

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
EXIT_INCOMPLETE = 5
CLI_ACTOR = Actor(id="system:privacy", kind=ActorKind.SYSTEM)


def register(subparsers: Subparsers) -> None:
    """Add the ``privacy`` verb and its actions."""
    parser = subparsers.add_parser(
        "privacy", help="erase a customer's personal data, its status, an access export"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    erase = actions.add_parser(
        "erase", help="destroy a customer's key, record SubjectErased (a second run: no-op)"
    )
    erase.add_argument("customer_id", metavar="CUSTOMER_ID")
    erase.add_argument(
        "--reason", required=True, help="why (a request reference; no personal data)"
    )
    erase.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the projections (exit 5)"
    )
    erase.add_argument("--json", action="store_true", help="machine-readable output")
    status = actions.add_parser("status", help="is anything of the customer still readable?")
    status.add_argument("customer_id", metavar="CUSTOMER_ID")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    export = actions.add_parser("export", help="every case of the customer, decrypted, as JSON")
    export.add_argument("customer_id", metavar="CUSTOMER_ID")
    actions.add_parser("reconcile", help="destroy keys a restored backup brought back")
    seal = actions.add_parser(
        "seal-log",
        help="copy a log written before encryption into this prefix, personal fields sealed",
    )
    seal.add_argument(
        "--from-prefix", required=True, metavar="PREFIX", help="the old topic prefix (stopped)"
    )
    seal.add_argument(
        "--delete-source",
        action="store_true",
        help="delete the old prefix's topics once copied (they hold the plaintext)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    return _ACTIONS[args.action](args, settings)


@contextmanager
def _owner(settings: Settings) -> Iterator[tuple[PgKeyStore, psycopg2.extensions.connection]]:
    keys = key_store(settings, PgComponent.OWNER)
    conn = connect_as(settings, PgComponent.OWNER)
    conn.set_session(readonly=True, autocommit=True)
    try:
        yield keys, conn
    finally:
        conn.close()
        keys.close()


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    with _owner(settings) as (keys, conn), SupportesClient(settings) as client:
        first = erase_subject(
            keys,
            conn,
            lambda envelope: client.submit([envelope])[0],
            args.customer_id,
            args.reason,
            actor=CLI_ACTOR,
        )
        report = _wait(
            lambda: erasure_report(keys, conn, settings.topic("events"), args.customer_id),
            args.wait,
        )
    _show(report, args.json, "erased" if first else "already erased")
    if not report.complete:
        fail_line("the erasure is not complete yet (is the projector running?)")
        return EXIT_INCOMPLETE
    return 0


def _wait(report: Callable[[], ErasureReport], timeout_s: float) -> ErasureReport:
    deadline = time.monotonic() + timeout_s
    current = report()
    while not current.complete and time.monotonic() < deadline:
        time.sleep(0.25)
        current = report()
    return current


def _status(args: argparse.Namespace, settings: Settings) -> int:
    with _owner(settings) as (keys, conn):
        report = erasure_report(keys, conn, settings.topic("events"), args.customer_id)
    _show(report, args.json, "erased" if report.erased_at else "not erased")
    return 0


def _show(report: ErasureReport, as_json: bool, headline: str) -> None:
    if as_json:
        print_json(report.as_dict())
    else:
        print(f"{report.subject}: {headline}")
        print(f"  erased at        {report.erased_at.isoformat() if report.erased_at else '-'}")
        print(f"  keys left        {report.live_keys} (destroyed: {report.fenced_keys})")
        where = f"partition {report.on_log[0]}, offset {report.on_log[1]}" if report.on_log else "-"
        print(f"  SubjectErased    {where}")
        print(f"  projections      {', '.join(report.projections_behind) or 'all applied it'}")
        verdict = "complete: nothing readable is left" if report.complete else "not complete"
        print(f"  {verdict}")


def _export(args: argparse.Namespace, settings: Settings) -> int:
    with _owner(settings) as (keys, conn):
        exported: dict[str, Any] = export_subject(conn, EventOpener(keys), args.customer_id)
    print_json(exported)
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    with _owner(settings) as (keys, _):
        destroyed = reconcile_keys(keys)
    print_json({"destroyed": list(destroyed)})
    return 0


def _seal_log(args: argparse.Namespace, settings: Settings) -> int:
    created, _ = ensure_topics_and_acls(settings)
    keys = key_store(settings, PgComponent.OWNER)
    conn = connect_as(settings, PgComponent.OWNER)
    conn.autocommit = True
    try:
        report = seal_log(args.from_prefix, settings, keys, conn, delete_source=args.delete_source)
    finally:
        conn.close()
        keys.close()
    print_json({**report.as_dict(), "topics_created": created})
    if report.unknown_customer:
        fail_line(
            f"{report.unknown_customer} aggregates hold personal text of an unknown customer"
            " (left in plaintext): bind them in privacy.case_subjects and run again on a new"
            " prefix"
        )
        return EXIT_INCOMPLETE
    return 0


_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "erase": _erase,
    "status": _status,
    "export": _export,
    "reconcile": _reconcile,
    "seal-log": _seal_log,
}
