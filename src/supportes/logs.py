"""structlog setup: JSON lines (one object per line) when stderr is not a terminal, with personal
data masked (:func:`mask_personal_data`) in every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from functools import cache
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
            mask_personal_data,
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


PERSONAL_MASK = "[personal data]"
SEALED_MASK = "[sealed]"
_MAX_DEPTH = 8


@cache
def personal_field_names() -> frozenset[str]:
    """The names of the fields marked personal on any command payload or case event (the
    domain's declaration, :mod:`supportes.aggregates.personal`)."""
    import inspect

    from supportes.aggregates.case import Case
    from supportes.aggregates.commands import COMMAND_PAYLOADS
    from supportes.aggregates.personal import personal_fields

    names: set[str] = set()
    for model in COMMAND_PAYLOADS.values():
        names.update(personal_fields(model))
    for _, event in inspect.getmembers(Case, inspect.isclass):
        if issubclass(event, Case.Event):
            names.update(personal_fields(event))
    return frozenset(names)


def _masked(value: Any, personal: frozenset[str], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        if value.get("$enc") is not None:  # a sealed field: no ciphertext in logs either
            return SEALED_MASK
        return {
            key: PERSONAL_MASK if key in personal else _masked(item, personal, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(item, personal, depth + 1) for item in value]
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: any key named like a personal field (``summary``, ``description``,
    ...), at the top of a log line or inside a payload or envelope logged with it, has its
    value replaced by ``[personal data]``; sealed fields become ``[sealed]``. Log lines are
    meant to carry ids (case, command, partition, offset), never what a customer wrote."""
    personal = personal_field_names()
    for key, value in list(event_dict.items()):
        if key == "event":
            continue
        if key in personal:
            event_dict[key] = PERSONAL_MASK
        elif isinstance(value, Mapping | list | tuple):
            event_dict[key] = _masked(value, personal, 1)
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to a component name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(component=name)
    return logger
