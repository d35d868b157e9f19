"""Base aggregate: events take their time from the command; the last event hash is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from eventsourcing.domain import Aggregate, ProgrammingError

from supportes.aggregates.commands import CommandPayload, ParsedCommand
from supportes.aggregates.errors import ErrorCode, Rejection

_CONTAINERS = (list, dict)


class SupportAggregate(Aggregate):
    """Common base of :class:`Case`, :class:`RootCause` and :class:`DataSubject`.

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
        """An independent copy: lists and dicts in the state are copied, values shared.

        Much cheaper than ``copy.deepcopy``, and valid because of what the state holds:
        immutable values (str, int, bool, None, UUID, datetime, enums), lists of them, and
        dicts whose values are immutable or dicts of immutable values (a root cause's
        actions). ``tests/unit/domain/test_domain_clone.py`` checks that shape on generated
        histories.
        """
        twin = object.__new__(type(self))  # what copy.copy does, without its dispatch
        state = twin.__dict__
        state.update(self.__dict__)
        for name, value in [(k, v) for k, v in state.items() if type(v) in _CONTAINERS]:
            if type(value) is list:
                state[name] = value.copy()
            else:
                state[name] = {k: v.copy() if type(v) is dict else v for k, v in value.items()}
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
