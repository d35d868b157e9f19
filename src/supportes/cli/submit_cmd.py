"""``supportes submit [FILE|-]``: command envelopes in (JSON lines), results out, in input order."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supportes.aggregates import Rejection
from supportes.cli.output import fail_line
from supportes.client import CommandTooLargeError, ResultTimeoutError, SupportesClient
from supportes.errors import UsageError
from supportes.ops.command_lines import read_numbered_command_lines
from supportes.privacy.wiring import command_sealer
from supportes.settings import Settings

EXIT_REJECTED = 3
EXIT_INFRA = 1
CHUNK = 500


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``submit`` verb."""
    parser = subparsers.add_parser(
        "submit",
        help="submit command envelopes (JSON lines); exit 0 all accepted, 3 some rejected",
    )
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="file or - (stdin)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for results (exit 1 after)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Validate every line first (routing fields, record size), then submit and print each
    result as a JSON line."""
    numbered = read_numbered_command_lines(
        _lines(args.file), "stdin" if args.file == "-" else args.file
    )
    envelopes = [envelope for _, envelope in numbered]
    rejected = 0
    with SupportesClient(settings, command_sealer(settings)) as client:
        for where, envelope in numbered:
            try:
                client.encode(envelope)  # as given, then as it will be sent (sealed)
                client.encode(client.prepared(envelope))
            except CommandTooLargeError as exc:
                raise UsageError(f"{where}: {exc}") from None
            except Rejection:
                continue  # answered as rejected in its place below
        for chunk in _chunks(envelopes):
            try:
                results = client.submit(chunk, timeout_s=args.timeout)
            except ResultTimeoutError as exc:
                fail_line(str(exc))
                return EXIT_INFRA
            for result in results:
                rejected += result.get("status") != "accepted"
                sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    return EXIT_REJECTED if rejected else 0


def _lines(file: str) -> list[str]:
    if file == "-":
        return sys.stdin.read().splitlines()
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not UTF-8 text") from None


def _chunks(envelopes: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(envelopes), CHUNK):
        yield envelopes[start : start + CHUNK]
