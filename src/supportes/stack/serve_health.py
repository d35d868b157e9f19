"""What each role of a running ``supportes serve`` is doing, in a file ``stack status`` reads.

``serve`` rewrites ``<home>/serve-<topic prefix>.health.json`` about once a second with its pid
and :data:`~supportes.consumers.dependencies.HEALTH` (``running``, or ``waiting`` for
``postgresql``/``kafka`` since when, next attempt when), and removes it when it stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from supportes.settings import Settings
from supportes.stack import processes


def health_file(settings: Settings) -> Path:
    """Where the serve of these settings' topic prefix publishes its roles' health."""
    return settings.home_dir / f"serve-{settings.topic_prefix}.health.json"


def publish(path: Path, roles: dict[str, dict[str, Any]]) -> None:
    """Replace the file atomically with this process's pid and ``roles``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "roles": roles}, sort_keys=True))
    temporary.replace(path)


def read(settings: Settings) -> dict[str, dict[str, Any]] | None:
    """The roles' health of a live serve, or None (no file, unreadable, or its process ended)."""
    try:
        content = json.loads(health_file(settings).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or not processes.is_alive(int(content.get("pid", 0))):
        return None
    roles = content.get("roles")
    return roles if isinstance(roles, dict) else None


def describe(roles: dict[str, dict[str, Any]]) -> str:
    """``writer running; projector waiting for postgresql since ... (next attempt ...)``."""
    parts = []
    for role, health in sorted(roles.items()):
        if health.get("state") == "waiting":
            parts.append(
                f"{role} waiting for {health.get('dependency')} since {health.get('since')}"
                f" (attempt {health.get('attempts')}, next at {health.get('next_attempt_at')})"
            )
        else:
            parts.append(f"{role} {health.get('state')}")
    return "; ".join(parts)
