"""Looking for a string where supportes keeps data: Kafka's segment files, a ``pg_dump``, logs.

Each scan looks for every encoding of the string (:func:`~tests.support.personal_story.
encodings`) in raw bytes, so it finds what any reader of the files could.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from supportes.settings import Settings
from supportes.stack.layout import kafka_paths
from supportes.stack.postgres_local import find_bindir
from tests.support.personal_story import encodings


def found_in(data: bytes, text: str) -> bool:
    """Whether ``data`` holds ``text`` in any encoding supportes writes."""
    return any(needle in data for needle in encodings(text))


def segment_files(settings: Settings) -> list[Path]:
    """Every log segment file of every topic of this settings' prefix (commands, events,
    results, dead letters: whatever exists)."""
    data = kafka_paths(settings).data
    prefix = f"{settings.topic_prefix}."
    return sorted(
        path
        for directory in data.iterdir()
        if directory.is_dir() and directory.name.startswith(prefix)
        for path in directory.glob("*.log")
    )


def topics_holding(settings: Settings, text: str) -> set[str]:
    """The topic partitions (directory names) whose segments hold ``text``."""
    return {
        path.parent.name for path in segment_files(settings) if found_in(path.read_bytes(), text)
    }


def pg_dump(dsn: str) -> bytes:
    """A plain-text dump of the whole database of ``dsn`` (data and schema)."""
    done = subprocess.run(
        [str(find_bindir() / "pg_dump"), "--dbname", dsn, "--no-owner"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def files_holding(paths: Iterable[Path], text: str) -> list[Path]:
    """Those of ``paths`` whose bytes hold ``text``."""
    return [path for path in paths if path.is_file() and found_in(path.read_bytes(), text)]
