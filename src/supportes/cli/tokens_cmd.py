"""``supportes tokens create|list|revoke``: API tokens for the HTTP API (design section 8).

Whoever can write ``auth.api_tokens`` in PostgreSQL (the stack's owner credentials) can mint
tokens; the secret is printed once by ``create`` and never stored (only its SHA-256).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg2.errors
import psycopg2.extensions

from supportes.auth.api_tokens import (
    create_token,
    list_tokens,
    parse_expiry,
    revoke_token,
    token_info,
)
from supportes.auth.principal import Role, parse_role
from supportes.cli.output import print_json, print_table
from supportes.db.connect import connect
from supportes.errors import ConfigError, UsageError
from supportes.settings import PgComponent, Settings

COLUMNS = [
    "token_id",
    "principal_id",
    "roles",
    "customer_id",
    "status",
    "created_at",
    "expires_at",
    "last_used_at",
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``tokens`` verb."""
    parser = subparsers.add_parser("tokens", help="API tokens for the HTTP API")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token; prints its secret once")
    create.add_argument(
        "--principal", required=True, metavar="ID", help="who it authenticates (agent:maria)"
    )
    create.add_argument(
        "--role",
        action="append",
        required=True,
        metavar="ROLE",
        help=f"a role ({', '.join(r.value for r in Role)}); repeat for several",
    )
    create.add_argument(
        "--customer",
        metavar="ID",
        help="for the customer role: the customer it is (default: the principal id)",
    )
    create.add_argument(
        "--expires", metavar="WHEN", help="30d, 12h, 90m or an ISO 8601 time (default: never)"
    )
    create.add_argument("--json", action="store_true", help="machine-readable output")
    listing = actions.add_parser("list", help="every token, without secrets")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = actions.add_parser("revoke", help="revoke a token (it stops working at once)")
    revoke.add_argument("token_id", metavar="ID", help="the token id (from tokens list)")
    revoke.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to the action."""
    now = datetime.now(UTC)
    if args.action == "create":
        return _create(args, settings, now)
    if args.action == "list":
        with _tokens_db(settings) as conn:
            tokens = list_tokens(conn)
        rows = [t.as_dict(now) for t in tokens]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, COLUMNS)
            print(f"{len(rows)} token(s)")
        return 0
    with _tokens_db(settings) as conn:
        revoked = revoke_token(conn, args.token_id, now=now)
        info = token_info(conn, args.token_id)
    if info is None:
        raise UsageError(f"no token {args.token_id!r} (see supportes tokens list)")
    if args.json:
        print_json({"token_id": info.token_id, "revoked": revoked, "revoked_at": info.revoked_at})
    elif revoked:
        print(f"revoked token {info.token_id} ({info.principal_id})")
    else:
        print(f"token {info.token_id} was already revoked")
    return 0


def _create(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    try:
        roles = frozenset(parse_role(r) for r in args.role)
    except ValueError as exc:
        raise UsageError(f"--role: {exc}") from None
    try:
        expires_at = parse_expiry(args.expires, now) if args.expires else None
    except ValueError as exc:
        raise UsageError(f"--expires: {exc}") from None
    if args.customer is not None and Role.CUSTOMER not in roles:
        raise UsageError("--customer: only for a token with the customer role")
    try:
        with _tokens_db(settings) as conn:
            issued = create_token(conn, args.principal, roles, args.customer, expires_at, now=now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    principal = issued.principal
    if args.json:
        print_json(
            {
                "token_id": issued.token_id,
                "secret": issued.secret,
                **principal.as_dict(),
                "created_at": issued.created_at,
                "expires_at": issued.expires_at,
            }
        )
        return 0
    roles_text = ",".join(sorted(r.value for r in principal.roles))
    expiry = issued.expires_at.isoformat(timespec="seconds") if issued.expires_at else "never"
    print(
        f"created token {issued.token_id} for {principal.id} (roles {roles_text}; expires {expiry})"
    )
    print("secret (shown only now; keep it safe):")
    print(issued.secret)
    return 0


@contextmanager
def _tokens_db(settings: Settings) -> Iterator[psycopg2.extensions.connection]:
    conn = connect(settings.dsn_for(PgComponent.API), timeout_s=settings.connect_timeout_s)
    try:
        yield conn
    except psycopg2.errors.UndefinedTable:
        raise ConfigError(
            "auth.api_tokens does not exist: apply the migrations (supportes stack up)"
        ) from None
    finally:
        conn.close()
