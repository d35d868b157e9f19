"""Finding a Java 17+ runtime for the local Kafka broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from supportes.errors import ConfigError

MIN_JAVA = 17
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def find_java() -> Path:
    """Path of a java executable (``$JAVA_HOME/bin/java`` first, then PATH), version >= 17."""
    java_home = os.environ.get("JAVA_HOME")
    candidate: str | None = None
    if java_home and (Path(java_home) / "bin" / "java").exists():
        candidate = str(Path(java_home) / "bin" / "java")
    else:
        candidate = shutil.which("java")
    if candidate is None:
        raise ConfigError(
            "java not found (JAVA_HOME or PATH): the local Kafka broker needs Java 17+; install "
            "openjdk-17-jre-headless, or set SUPPORTES_KAFKA_BOOTSTRAP to use an existing broker"
        )
    try:
        out = subprocess.run(
            [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ConfigError(f"java at {candidate} cannot run: {exc}") from None
    match = _VERSION.search(out.stderr + out.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ConfigError(f"java at {candidate} is version {major}; Kafka 4 needs Java {MIN_JAVA}+")
    return Path(candidate)
