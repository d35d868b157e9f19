"""The support domain: cases, root causes and data subjects as event-sourced aggregates (pure
Python, no I/O).

Entry points for the write path::

    command = parse_command(raw)                       # Rejection(invalid | unknown_command)
    decision = decide(command, current, last_hash=last_hash_of(current), audit_key=key)
    aggregate = rebuild(envelopes)                     # from stored wire envelopes

Modules: ``errors`` (codes, Rejection), ``values`` (enums, Actor, Via), ``commands`` (payload
models, envelope parsing), ``clock`` (the ``issued_at`` skew rule the writer applies),
``reference`` (case references), ``case`` / ``root_cause`` / ``data_subject`` (aggregates; a
data subject records a customer's erasure), ``personal`` (personal-data marks), ``wire`` +
``upcasting`` (event envelopes), ``hashchain`` (audit chain), ``dispatch`` (decide, rebuild,
state snapshots).
"""

from supportes.aggregates.case import Case
from supportes.aggregates.case_status import CaseStatus, FollowUpState
from supportes.aggregates.commands import (
    COMMAND_PAYLOADS,
    AnyCommand,
    CommandEnvelope,
    CommandPayload,
    ParsedCommand,
    command_envelope,
    parse_command,
    salvage_uuid,
)
from supportes.aggregates.data_subject import DataSubject, subject_aggregate_id
from supportes.aggregates.dispatch import (
    ROUTES,
    AnyAggregate,
    Decision,
    accepted_result,
    apply_envelope,
    compensations,
    decide,
    last_hash_of,
    rebuild,
    rejected_result,
    state_of,
)
from supportes.aggregates.errors import EnvelopeError, ErrorCode, Rejection
from supportes.aggregates.hashchain import ChainReport, canonical_json, event_hash, verify_chain
from supportes.aggregates.reference import case_reference, parse_reference
from supportes.aggregates.root_cause import RootCause, RootCauseStatus
from supportes.aggregates.values import SYSTEM_ACTOR, Actor, ActorKind, Via
from supportes.aggregates.wire import EVENT_TYPES, from_envelope, to_envelope

__all__ = [
    "COMMAND_PAYLOADS",
    "EVENT_TYPES",
    "ROUTES",
    "SYSTEM_ACTOR",
    "Actor",
    "ActorKind",
    "AnyAggregate",
    "AnyCommand",
    "Case",
    "CaseStatus",
    "ChainReport",
    "CommandEnvelope",
    "CommandPayload",
    "DataSubject",
    "Decision",
    "EnvelopeError",
    "ErrorCode",
    "FollowUpState",
    "ParsedCommand",
    "Rejection",
    "RootCause",
    "RootCauseStatus",
    "Via",
    "accepted_result",
    "apply_envelope",
    "canonical_json",
    "case_reference",
    "command_envelope",
    "compensations",
    "decide",
    "event_hash",
    "from_envelope",
    "last_hash_of",
    "parse_command",
    "parse_reference",
    "rebuild",
    "rejected_result",
    "salvage_uuid",
    "state_of",
    "subject_aggregate_id",
    "to_envelope",
    "verify_chain",
]
