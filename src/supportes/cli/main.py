"""Entry point: parse arguments, load settings, run a verb; errors become one line and an exit code.

Exit codes (design section 6): 0 success, 1 infrastructure or configuration error, 2 usage error;
verbs add their own (3 rejected commands, 4 broken audit chain, 5 wait timed out).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

import psycopg2
from kafka.errors import KafkaError

from supportes import __version__
from supportes.cli import (
    audit_cmd,
    case_cmd,
    demo_cmd,
    faults_cmd,
    migrate_cmd,
    privacy_cmd,
    projections_cmd,
    queue_cmd,
    report_cmd,
    serve_cmd,
    stack_cmd,
    submit_cmd,
    tokens_cmd,
)
from supportes.errors import ConfigError, UsageError
from supportes.logs import configure_logging
from supportes.settings import load_settings

EXIT_INFRA = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb registered."""
    parser = argparse.ArgumentParser(
        prog="supportes",
        description="Event-sourced support operations: Kafka log, PostgreSQL views.",
    )
    parser.add_argument("--version", action="version", version=f"supportes {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    stack_cmd.register(subparsers)
    migrate_cmd.register(subparsers)
    serve_cmd.register(subparsers)
    projections_cmd.register(subparsers)
    submit_cmd.register(subparsers)
    case_cmd.register(subparsers)
    report_cmd.register(subparsers)
    queue_cmd.register(subparsers)
    audit_cmd.register(subparsers)
    demo_cmd.register(subparsers)
    tokens_cmd.register(subparsers)
    privacy_cmd.register(subparsers)
    faults_cmd.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        code: int = args.handler(args, settings)
    except UsageError as exc:
        print(f"supportes: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"supportes: error: {exc}", file=sys.stderr)
        return EXIT_INFRA
    except (KafkaError, psycopg2.OperationalError) as exc:  # a dependency failed: one line
        text = str(exc).strip().splitlines()
        print(f"supportes: error: {type(exc).__name__}: {text[0] if text else ''}", file=sys.stderr)
        return EXIT_INFRA
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: one line for the user, the traceback for the developer
        text = str(exc).strip().splitlines()
        print(
            f"supportes: error: internal error: {type(exc).__name__}: {text[0] if text else ''}"
            " (SUPPORTES_LOG_LEVEL=debug prints the traceback)",
            file=sys.stderr,
        )
        if os.environ.get("SUPPORTES_LOG_LEVEL", "").lower() == "debug":
            traceback.print_exc()
        return EXIT_INFRA
    return code


if __name__ == "__main__":
    sys.exit(main())
