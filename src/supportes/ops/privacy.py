"""Erasure and access for data subjects (design section 9): the service behind ``supportes
privacy erase|status|export|reconcile`` and the API's admin endpoints.

Erasing a subject: destroy its keys first (the fence of fingerprints, then the rows: from that
moment nothing sealed for it can be read, whatever happens next), then record ``SubjectErased``
on the log (no personal data: the customer id and the destroyed keys' fingerprints), which every
projection applies by masking the subject's text. Run again, it finishes what a failed run left
(a key that reappeared is destroyed again; a missing ``SubjectErased`` is recorded) and
otherwise changes nothing. The status says complete once no key is left, ``SubjectErased`` is on
the log and every projection has applied it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg2.extensions

from supportes.aggregates.commands import MAX_KEY_FINGERPRINTS, command_envelope
from supportes.aggregates.data_subject import subject_aggregate_id
from supportes.aggregates.values import SYSTEM_ACTOR, Actor
from supportes.ops.queries import dict_rows
from supportes.privacy.keystore import KeyStore
from supportes.privacy.opener import EventOpener
from supportes.projections.base import LoggedEvent
from supportes.projections.registry import all_projections
from supportes.projections.timeline import summary

Submit = Callable[[dict[str, Any]], dict[str, Any]]
"""Sends one command envelope and returns its result."""
ERASED_ALREADY = "already_exists"
ERASE_COMMAND = "EraseSubject"


class ErasureNotRecordedError(RuntimeError):
    """The keys are destroyed but ``SubjectErased`` was refused; run the erasure again."""


@dataclass(frozen=True)
class ErasureReport:
    """Where a subject's erasure stands."""

    subject: str
    erased_at: datetime | None
    live_keys: int
    fenced_keys: int
    on_log: tuple[int, int] | None
    """(partition, offset) of the subject's ``SubjectErased``, once indexed."""
    projections_behind: tuple[str, ...]
    """Projections that have not applied ``SubjectErased`` yet."""

    @property
    def complete(self) -> bool:
        """Nothing readable is left: no key, the erasure on the log, every projection past it."""
        return (
            self.erased_at is not None
            and self.live_keys == 0
            and self.on_log is not None
            and not self.projections_behind
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, ``complete`` included."""
        fields = asdict(self)
        fields["on_log"] = (
            None
            if self.on_log is None
            else dict(zip(("partition", "offset"), self.on_log, strict=True))
        )
        fields["projections_behind"] = list(self.projections_behind)
        return {**fields, "complete": self.complete}


def erase_subject(
    keys: KeyStore,
    conn: psycopg2.extensions.connection,
    submit: Submit,
    subject: str,
    reason: str,
    *,
    actor: Actor = SYSTEM_ACTOR,
    now: datetime | None = None,
) -> bool:
    """Erase ``subject``: destroy its keys, record ``SubjectErased``. True when this call
    erased it, False when it was erased already (a no-op, apart from finishing a failed run).
    ``conn`` reads the fence (``privacy.erased_keys``). Raises ErasureNotRecordedError."""
    first, fingerprints = destroy_keys(keys, conn, subject, reason)
    envelope = command_envelope(
        command_id=uuid4(),
        type=ERASE_COMMAND,
        aggregate_id=subject_aggregate_id(subject),
        issued_at=now or datetime.now(UTC),
        actor=actor,
        payload=erasure_payload(subject, fingerprints),
    )
    check_recorded(submit(envelope))
    return first


def destroy_keys(
    keys: KeyStore, conn: psycopg2.extensions.connection, subject: str, reason: str
) -> tuple[bool, list[str]]:
    """The first step of an erasure: the subject's keys destroyed (fenced first). Whether this
    call erased it, and the fingerprints of every key of it ever destroyed (read by ``conn``)."""
    first = keys.erase(subject, reason)
    fingerprints = [
        str(row["fingerprint"])
        for row in dict_rows(
            conn,
            "SELECT fingerprint FROM privacy.erased_keys WHERE subject = %s ORDER BY fingerprint",
            (subject,),
        )
    ]
    return first, fingerprints


def erasure_payload(subject: str, fingerprints: Sequence[str]) -> dict[str, Any]:
    """The payload of the ``EraseSubject`` that records the erasure (no personal data)."""
    return {"customer_id": subject, "key_fingerprints": list(fingerprints[:MAX_KEY_FINGERPRINTS])}


def check_recorded(result: Mapping[str, Any]) -> None:
    """Raise ErasureNotRecordedError unless ``result`` (of the ``EraseSubject``) says the
    erasure is on the log: accepted now, or recorded by an earlier run."""
    code = (result.get("error") or {}).get("code")
    if result.get("status") != "accepted" and code != ERASED_ALREADY:
        raise ErasureNotRecordedError(
            f"the keys are destroyed but SubjectErased was refused ({code}:"
            f" {(result.get('error') or {}).get('message')}); run the erasure again"
        )


def erasure_report(
    keys: KeyStore, conn: psycopg2.extensions.connection, topic: str, subject: str
) -> ErasureReport:
    """Where ``subject``'s erasure stands (``conn`` reads the event index and the offsets)."""
    status = keys.status(subject)
    rows = dict_rows(
        conn,
        'SELECT partition, "offset" FROM event_index.events'
        " WHERE aggregate_id = %s AND type = 'SubjectErased' ORDER BY version LIMIT 1",
        (str(subject_aggregate_id(subject)),),
    )
    on_log = (int(rows[0]["partition"]), int(rows[0]["offset"])) if rows else None
    behind: tuple[str, ...] = tuple(p.name for p in all_projections())
    if on_log is not None:
        past = dict_rows(
            conn,
            "SELECT projection FROM proj.offsets"
            " WHERE topic = %s AND partition = %s AND next_offset > %s",
            (topic, on_log[0], on_log[1]),
        )
        done = {str(row["projection"]) for row in past}
        behind = tuple(name for name in behind if name not in done)
    return ErasureReport(
        subject, status.erased_at, status.live_keys, status.fenced_keys, on_log, behind
    )


def cases_of(conn: psycopg2.extensions.connection, subject: str) -> list[UUID]:
    """Every case of ``subject``: bound at its sealing, or opened for it in the event index."""
    rows = dict_rows(
        conn,
        "SELECT case_id FROM privacy.case_subjects WHERE subject = %s"
        " UNION SELECT aggregate_id FROM event_index.events"
        " WHERE type = 'CaseOpened' AND version = 1 AND envelope->'payload'->>'customer_id' = %s"
        " ORDER BY 1",
        (subject, subject),
    )
    return [UUID(str(row["case_id"])) for row in rows]


def export_subject(
    conn: psycopg2.extensions.connection, opener: EventOpener, subject: str
) -> dict[str, Any]:
    """Every case of ``subject`` with its timeline, personal fields opened (GDPR Art. 15):
    ``{"subject", "cases": [{"case_id", "events": [{version, type, occurred_at, actor,
    summary, payload}]}]}``; an erased subject's text reads as its masks."""
    cases: list[dict[str, Any]] = []
    for case_id in cases_of(conn, subject):
        rows = dict_rows(
            conn,
            'SELECT partition, "offset", envelope FROM event_index.events'
            " WHERE aggregate_id = %s ORDER BY version",
            (str(case_id),),
        )
        events = [LoggedEvent(r["envelope"], r["partition"], r["offset"]) for r in rows]
        opener.open(events)
        cases.append({"case_id": str(case_id), "events": [_exported(e) for e in events]})
    return {"subject": subject, "cases": cases}


def _exported(event: LoggedEvent) -> dict[str, Any]:
    envelope: Mapping[str, Any] = event.envelope
    return {
        "version": event.version,
        "type": event.type,
        "occurred_at": envelope["occurred_at"],
        "actor": envelope["actor"],
        "summary": summary(event),
        "payload": dict(event.payload),
    }


def reconcile_keys(keys: KeyStore) -> Sequence[str]:
    """Destroy every key a restored backup brought back for an erased subject; their kids."""
    return keys.reconcile()
