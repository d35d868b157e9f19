"""``python -m supportes`` runs the ``supportes`` command line."""

from supportes.cli.main import main

raise SystemExit(main())
