"""Every ``supportes_*`` metric, in one catalog (docs/metrics.md is checked against it).

Names carry their base unit (``_seconds``, ``_events``, ``_total`` for counters); label sets are
bounded: command types and rejection codes come from the code's own tables (anything else is
``unknown``), partitions from the topic's partition count, routes are the API's route
templates. No case, customer or command id is ever a label.

The metrics live in prometheus-client's default registry (with its process collector:
``process_start_time_seconds``, CPU, memory, open files) and are served by the API on its own
port (``/metrics``) and by :mod:`supportes.observability.server` on
``SUPPORTES_METRICS_LISTEN``.
"""

from __future__ import annotations

import platform
import time

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics

from supportes import __version__

# no *_created series: they would double the series for nothing here
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds, for whatever a client or an operator waits on."""
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Records per batch or cycle."""

# -- every process ---------------------------------------------------------------------------

BUILD = Info("supportes_build", "The supportes version and Python of this process.")
PROCESS_START = Gauge(
    "supportes_process_start_time_seconds", "Unix time this supportes process started."
)
ROLE = Gauge(
    "supportes_role", "1 for each role this process runs (writer, projector, api).", ["role"]
)

# -- writer ----------------------------------------------------------------------------------

COMMANDS = Counter(
    "supportes_commands",
    "Commands the writer answered in committed transactions, by type and outcome (accepted, "
    "rejected, duplicate, dead_lettered) and rejection code ('' unless rejected).",
    ["type", "outcome", "code"],
)
WRITER_CYCLE_SECONDS = Histogram(
    "supportes_writer_cycle_duration_seconds",
    "One writer poll cycle from its records in hand to its transaction committed.",
    buckets=LATENCY_BUCKETS,
)
WRITER_CYCLE_COMMANDS = Histogram(
    "supportes_writer_cycle_commands",
    "Commands per committed writer cycle (all its partitions).",
    buckets=SIZE_BUCKETS,
)
SUBMIT_TO_COMMIT_SECONDS = Histogram(
    "supportes_writer_submit_to_commit_seconds",
    "From a command's record timestamp on the commands topic to its answer committed.",
    buckets=LATENCY_BUCKETS,
)
TRANSACTIONS = Counter(
    "supportes_writer_transactions",
    "Writer transactions by result: committed, aborted, fenced (refused as a zombie's).",
    ["result"],
)
for _result in ("committed", "aborted", "fenced"):
    TRANSACTIONS.labels(_result)  # every series from 0: increase() sees the first one too

PARTITIONS_OWNED = Gauge(
    "supportes_writer_partitions_owned", "Commands partitions this writer owns and has opened."
)
TAKEOVER_SECONDS = Histogram(
    "supportes_writer_takeover_duration_seconds",
    "Opening a partition: catching up from the log and the index, then seeking.",
    buckets=LATENCY_BUCKETS,
)
INDEX_LAG_SECONDS = Histogram(
    "supportes_writer_index_lag_seconds",
    "From a cycle's commit to its events and answers written to the event index.",
    buckets=LATENCY_BUCKETS,
)
COMMANDS_WAITING = Gauge(
    "supportes_writer_commands_waiting",
    "Commands on an owned partition not yet read by the writer (high watermark - position).",
    ["partition"],
)

# -- projector -------------------------------------------------------------------------------

EVENTS_APPLIED = Counter(
    "supportes_projector_events_applied",
    "Events applied to a projection's tables in committed batches.",
    ["projection"],
)
BATCH_APPLY_SECONDS = Histogram(
    "supportes_projector_batch_apply_duration_seconds",
    "Applying one batch of events to every projection of a lane and committing it.",
    buckets=LATENCY_BUCKETS,
)
BATCH_EVENTS = Histogram(
    "supportes_projector_batch_events", "Events per applied projector batch.", buckets=SIZE_BUCKETS
)
PROJECTOR_LAG = Gauge(
    "supportes_projector_lag_events",
    "Events on an events partition not yet applied to a projection (end offset - stored "
    "offset), for the partitions this projector owns.",
    ["projection", "partition"],
)
PARKED_EVENTS = Gauge(
    "supportes_projector_parked_events",
    "Events a projection could not apply and parked for an operator (projections parked).",
)
PROJECTOR_DEAD_LETTERS = Counter(
    "supportes_projector_dead_letters",
    "Records on the events topic the projector could not read (sent to the dead-letter topic).",
)

# -- HTTP API --------------------------------------------------------------------------------

API_REQUEST_SECONDS = Histogram(
    "supportes_api_request_duration_seconds",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
API_AUTH_FAILURES = Counter(
    "supportes_api_auth_failures",
    "Requests refused for their credentials, by reason (the authenticator's reasons: missing, "
    "malformed, expired, unknown_token, revoked, bad_signature, ...; forbidden for a 403 of the "
    "policy; other for anything else).",
    ["reason"],
)
API_RATE_LIMITED = Counter(
    "supportes_api_rate_limited", "Requests refused with 429 by the per-caller rate limit."
)


def describe_process(roles: list[str]) -> None:
    """Set the build info, the start time and the roles of this process."""
    BUILD.info({"version": __version__, "python": platform.python_version()})
    PROCESS_START.set(_process_start_time())
    for role in ("writer", "projector", "api"):
        ROLE.labels(role).set(1 if role in roles else 0)


def _process_start_time() -> float:
    """This process's start (from /proc when it can be read, else now)."""
    try:
        from prometheus_client.process_collector import PROCESS_COLLECTOR

        for family in PROCESS_COLLECTOR.collect():
            if family.name == "process_start_time_seconds":
                return float(family.samples[0].value)
    except Exception:  # no /proc (not Linux): the time of this call
        pass
    return time.time()
