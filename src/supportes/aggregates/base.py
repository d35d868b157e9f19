"""Base aggregate: events take their time from the command; the last event hash is kept."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Self

from eventsourcing.domain import Aggregate, ProgrammingError

from supportes.aggregates.commands import CommandPayload, ParsedCommand
from supportes.aggregates.errors import ErrorCode, Rejection


class SupportAggregate(Aggregate):
    """Common base of :class:`Case` and :class:`RootCause`.

    ``last_hash`` is the ``hash`` of the last event envelope applied (set by
    :mod:`~supportes.aggregates.dispatch`); it is chain metadata, not domain state.
    """

    aggregate_type = "SupportAggregate"

    def __init__(self) -> None:
        self.last_hash: str | None = None

    class Event(Aggregate.Event):
        """Base event: refuses to read the clock."""

        @staticmethod
        def create_timestamp() -> datetime:
            """Never called: every event's timestamp is its command's ``issued_at``."""
            msg = "supportes events take their timestamp from the command's issued_at"
            raise ProgrammingError(msg)

    def clone(self) -> Self:
        """An independent copy: lists and dicts are copied, immutable values shared.

        Much cheaper than ``copy.deepcopy``; valid because aggregate state holds only
        immutable values (str, int, bool, None, UUID, datetime, enums) inside lists and dicts.
        """
        twin = copy.copy(self)
        twin.__dict__.update({k: _thaw(v) for k, v in vars(self).items()})
        return twin

    def _emit(
        self,
        event_class: type[SupportAggregate.Event],
        command: ParsedCommand[CommandPayload],
        **payload: Any,
    ) -> None:
        self.trigger_event(event_class, timestamp=command.issued_at, **payload)


def reject(code: ErrorCode, message: str, field: str | None = None) -> Rejection:
    """Shorthand used by the aggregates' rules."""
    return Rejection(code, message, field)


def _thaw(value: Any) -> Any:
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value
