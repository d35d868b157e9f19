"""``python -m supportes.bench`` (see :mod:`supportes.bench.cli`)."""

from supportes.bench.cli import main

raise SystemExit(main())
