"""Sealing commands where they are made (the API, ``SupportesClient``, the demo).

A command with personal data in plaintext gets each personal field sealed with the key of the
case's data subject, its customer, before it is sent: no plaintext reaches a Kafka topic. An
``OpenCase`` names its customer and binds the case to it (:class:`CaseSubjects`, a durable map
written before the command is sent, so the case's next command finds it at once, whichever
process makes it); any later command finds the subject there. Refusals are the domain's
:class:`~supportes.aggregates.Rejection`: ``not_found`` (no case to take the subject from),
``already_exists`` (a case id bound to another customer), ``subject_erased``, and ``invalid``
for a command the domain would refuse anyway (its plaintext is checked before it is sealed:
after, nobody can).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from uuid import UUID

from supportes.aggregates import Rejection, parse_command
from supportes.aggregates.errors import ErrorCode
from supportes.privacy.keystore import KeyStore, SubjectErasedError
from supportes.privacy.sealing import carries_personal_data, seal_command, subject_of_new_case


class CaseSubjects(Protocol):
    """Which data subject (customer) each case belongs to."""

    def bind(self, case_id: UUID, subject: str) -> str:
        """Bind ``case_id`` to ``subject`` unless it is bound already; the bound subject."""
        ...

    def subject_of(self, case_id: UUID) -> str | None:
        """The subject ``case_id`` is bound to, or None when no such case was opened."""
        ...


class CommandSealer:
    """Seals the personal fields of command envelopes (:meth:`seal`); blocking I/O."""

    def __init__(
        self, keys: KeyStore, subjects: CaseSubjects, close: Callable[[], None] | None = None
    ) -> None:
        self.keys = keys
        self.subjects = subjects
        self._close = close

    def close(self) -> None:
        """Release what the sealer holds (its connections)."""
        if self._close is not None:
            self._close()

    def seal(self, envelope: Mapping[str, Any], *, checked: bool = False) -> dict[str, Any]:
        """``envelope`` with its plaintext personal fields sealed (a copy; an envelope with
        none is returned as a copy unchanged). Raises :class:`Rejection`. ``checked``: the
        caller parsed it already (the API's attested commands), so its rules are not run again."""
        if not carries_personal_data(envelope):
            return dict(envelope)
        if not checked:  # the plaintext's rules, here, where it is readable (unless done already)
            parse_command(envelope)
        case_id = _uuid(envelope, "aggregate_id")
        subject = self._subject(case_id, envelope)
        try:
            key = self.keys.key_for(subject)
        except SubjectErasedError:
            raise Rejection(
                ErrorCode.SUBJECT_ERASED,
                f"case {case_id}: its customer's personal data was erased; a command with"
                " personal data (free text) for them cannot be taken",
                "payload",
            ) from None
        return seal_command(envelope, key)

    def _subject(self, case_id: UUID, envelope: Mapping[str, Any]) -> str:
        named = subject_of_new_case(envelope)
        if named is not None:
            bound = self.subjects.bind(case_id, named)
            if bound != named:
                raise Rejection(
                    ErrorCode.ALREADY_EXISTS,
                    f"case {case_id} already exists for another customer",
                    "aggregate_id",
                )
            return named
        subject = self.subjects.subject_of(case_id)
        if subject is None:
            raise Rejection(ErrorCode.NOT_FOUND, f"no case {case_id}", "aggregate_id")
        return subject


def _uuid(envelope: Mapping[str, Any], name: str) -> UUID:
    try:
        return UUID(str(envelope[name]))
    except (KeyError, ValueError):
        raise Rejection(ErrorCode.INVALID, f"{name}: must be a UUID", name) from None
