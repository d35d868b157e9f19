"""Loading the demo data set through the real write path, once.

The plan (:mod:`supportes.ops.demo_plan`) is submitted with :class:`SupportesClient` to a
running writer, batch after batch, then the projections are awaited. Loading is idempotent: a
later run finds the set's anchor root cause in the event index, rebuilds the very same plan
from the window start recorded there, and sends only the commands the index does not know yet
(events carry their command id and never expire; answered command ids are kept for 8 days).
A second run over a loaded set therefore sends nothing; one after an interrupted load sends the
rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from supportes.client import ResultTimeoutError, SupportesClient
from supportes.errors import ConfigError
from supportes.eventstore.index import EventIndex
from supportes.logs import get_logger
from supportes.ops.demo_plan import (
    DEFAULT_CASES,
    DEMO_SEED,
    WINDOW_DAYS,
    DemoPlan,
    anchor_root_cause_id,
    build_plan,
    chunks,
)
from supportes.ops.projection_status import wait_until_caught_up
from supportes.privacy.wiring import command_sealer
from supportes.settings import PgComponent, Settings
from supportes.simulation import Envelope

log = get_logger("demo")
BATCH = 250
FIRST_BATCH = 50  # small: it doubles as the "is a writer running?" probe
LATER_TIMEOUT_S = 120.0


class NoWriterError(ConfigError):
    """No writer answered the first commands in time."""


@dataclass(frozen=True)
class DemoProgress:
    """Where a load stands (passed to the progress callback after each send and answer)."""

    sent: int
    answered: int
    total: int
    elapsed_s: float

    @property
    def commands_per_s(self) -> float:
        """Answered commands per second so far."""
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def percent(self) -> float:
        """Share of the commands to send that were answered."""
        return 100.0 * self.answered / self.total if self.total else 100.0


@dataclass(frozen=True)
class DemoSummary:
    """What a demo run did, and what the set holds."""

    cases: int
    root_causes: int
    commands: int  # in the set
    sent: int  # by this run
    accepted: int
    rejected: int
    already_loaded: int  # commands of the set applied before this run
    caught_up: bool
    seconds: float
    window_start: datetime
    window_end: datetime
    example_case_id: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


ProgressCallback = Callable[[DemoProgress], None]


def load_demo(
    settings: Settings,
    *,
    cases: int = DEFAULT_CASES,
    seed: int = DEMO_SEED,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    answer_timeout_s: float = 30.0,
    catch_up_timeout_s: float = 120.0,
) -> DemoSummary:
    """Load the demo set of ``cases`` cases (once) and wait for the projections.

    Raises NoWriterError when no writer answers within ``answer_timeout_s``.
    """
    began = time.monotonic()
    plan, applied = _plan_and_applied(settings, cases, seed, now or datetime.now(UTC))
    pending = [e for e in plan.envelopes if e["command_id"] not in applied]
    log.debug("demo plan", cases=cases, commands=len(plan.envelopes), to_send=len(pending))
    accepted, rejected = _submit(settings, pending, began, progress, answer_timeout_s)
    caught_up = wait_until_caught_up(settings, catch_up_timeout_s)
    return DemoSummary(
        cases=len(plan.case_ids),
        root_causes=len(plan.root_cause_ids),
        commands=len(plan.envelopes),
        sent=len(pending),
        accepted=accepted,
        rejected=rejected,
        already_loaded=len(plan.envelopes) - len(pending),
        caught_up=caught_up,
        seconds=round(time.monotonic() - began, 2),
        window_start=plan.start,
        window_end=plan.end,
        example_case_id=plan.example_case_id,
    )


def _plan_and_applied(
    settings: Settings, cases: int, seed: int, now: datetime
) -> tuple[DemoPlan, set[str]]:
    """The set's plan (same window as a previous load) and its command ids already applied."""
    index = EventIndex(settings.dsn_for(PgComponent.API))
    try:
        anchor = UUID(anchor_root_cause_id(seed, cases))
        history = index.envelopes_of([anchor]).get(anchor)
        if history:
            start = datetime.fromisoformat(str(history[0]["occurred_at"]).replace("Z", "+00:00"))
        else:
            start = now - timedelta(days=WINDOW_DAYS)
        plan = build_plan(seed, cases, start)
        applied = set(index.processed([str(e["command_id"]) for e in plan.envelopes]))
        stored = index.envelopes_of(UUID(a) for a in plan.aggregate_ids)
        applied.update(str(e["command_id"]) for events in stored.values() for e in events)
    finally:
        index.close()
    return plan, applied


def _submit(
    settings: Settings,
    pending: list[Envelope],
    began: float,
    progress: ProgressCallback | None,
    answer_timeout_s: float,
) -> tuple[int, int]:
    """Submit batch after batch; return (accepted, rejected)."""
    if not pending:
        return 0, 0
    report = progress or (lambda _: None)
    accepted = rejected = answered = 0
    with SupportesClient(settings, command_sealer(settings)) as client:
        for number, batch in enumerate(chunks(pending, BATCH, first=FIRST_BATCH)):
            elapsed = time.monotonic() - began
            report(DemoProgress(answered + len(batch), answered, len(pending), elapsed))
            timeout = answer_timeout_s if number == 0 else LATER_TIMEOUT_S
            try:
                results = client.submit(batch, timeout_s=timeout)
            except ResultTimeoutError as exc:
                raise _no_answer(exc, len(batch), timeout, number) from None
            answered += len(results)
            statuses = [r.get("status") for r in results]
            accepted += statuses.count("accepted")
            rejected += len(statuses) - statuses.count("accepted")
            report(DemoProgress(answered, answered, len(pending), time.monotonic() - began))
    return accepted, rejected


def _no_answer(exc: ResultTimeoutError, size: int, timeout_s: float, number: int) -> ConfigError:
    if number == 0 and len(exc.missing) == size:
        return NoWriterError(
            f"no writer answered within {timeout_s:g}s: start one with `supportes serve` "
            "(or `make run`), then run the demo again"
        )
    return ConfigError(
        f"{len(exc.missing)} of {size} demo commands got no answer within {timeout_s:g}s "
        "(is `supportes serve` still running?); run the demo again to send the rest"
    )
