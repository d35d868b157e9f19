"""Interpreter settings for the long-running processes: the batch ones (the projector and the
writer) and the API.

The batch processes handle thousands of envelopes per batch as plain dicts and lists, freed by
reference counting; and both wait on a server (PostgreSQL, Kafka) from one thread while another
computes. CPython's defaults are tuned for neither.
"""

from __future__ import annotations

import gc
import sys

GC_THRESHOLDS = (100_000, 10, 10)
"""Cyclic GC thresholds (default ``(700, 10, 10)``): only the youngest generation's is raised. A
10,000-event batch allocates millions of containers, nearly all freed by reference counting;
with the default a young collection runs every 700 allocations and keeps re-scanning the batch
in hand. The older generations keep CPython's defaults, so cycles reaching them are collected as
usual in a long-running process. Measured on a 200k-event replay: user CPU 8.0-8.5 s ->
6.1-6.2 s (as low as with the older thresholds raised too), RSS unchanged (~210 MiB)."""

SWITCH_INTERVAL_S = 0.0005
"""Thread switch interval (default 5 ms). A thread that waits on I/O must get the GIL back soon
after each reply while another thread computes, or it queues for up to the whole interval after
every round trip. Measured on the projector (apply thread on PostgreSQL, main thread decoding):
0.5 ms replays 200k events 14-17 % faster than 5 ms."""


def tune_gc() -> None:
    """Apply :data:`GC_THRESHOLDS` to this process. Alone, it is the writer's setting: there
    full collections scanned ~100 ms each and took 24 % of a throughput run with the default
    young threshold; the writer keeps the default switch interval (0.5 ms cost it a third of its
    throughput). ``gc.freeze()`` at start was tried too: no gain for the writer, and replays
    ~20 % slower in the projector."""
    gc.set_threshold(*GC_THRESHOLDS)


def tune_for_batches() -> None:
    """Apply :data:`GC_THRESHOLDS` and :data:`SWITCH_INTERVAL_S` to this process (the projector)."""
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def tune_for_serving() -> None:
    """The API's settings: :data:`GC_THRESHOLDS` (a request allocates hundreds of containers,
    nearly all freed by reference counting; at 500 commands/s the default young threshold ran
    a collection every few requests, and the older generations' after them) and
    :data:`SWITCH_INTERVAL_S`: the results reader thread takes the GIL back after each poll of
    librdkafka, and with the default 5 ms it waited up to that long behind the event loop
    before it could hand an answer over."""
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def settle_heap() -> int:
    """Collect, then move what survived to the permanent generation (``gc.freeze``); the number
    of objects frozen. For the API, once start-up is complete: its heap is mostly what lives as
    long as the process (modules, classes, schemas, the Kafka clients), and every full collection
    walked all of it. At 500 commands/s those came every few seconds and each stopped the event
    loop for 67-103 ms (measured with ``gc.callbacks``), the tail of every request in flight."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
