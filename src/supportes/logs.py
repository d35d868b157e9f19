"""structlog setup: JSON lines (one object per line) when stderr is not a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_state = {"configured": False}


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog once; later calls do nothing."""
    if _state["configured"]:
        return
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # kafka-python logs connection retries through the standard library as errors; its real
    # failures reach us as exceptions, so its own log is only shown at debug level.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.DEBUG if level == "debug" else logging.CRITICAL)
    _state["configured"] = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to a component name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(component=name)
    return logger
