"""The ``supportes`` command line (design section 6)."""

from supportes.cli.main import main

__all__ = ["main"]
