"""Benchmarks of the HTTP API (:mod:`~supportes.bench.api_read`,
:mod:`~supportes.bench.api_submit`), and the entry point of their API process: ``python -m
supportes.bench.api_bench serve --port N --bare-file F`` (:mod:`~supportes.bench.api_corner`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from supportes.bench.api_corner import serve_main
from supportes.bench.api_read import api_read
from supportes.bench.api_submit import api_submit_latency

__all__ = ["api_read", "api_submit_latency", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m supportes.bench.api_bench serve ...`` (the benchmark's API process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "serve":
        print("usage: python -m supportes.bench.api_bench serve --port N --bare-file F")
        return 2
    return serve_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
