"""Timeouts for kafka-python calls that otherwise wait forever.

kafka-python's ``commit_transaction``, ``abort_transaction`` and ``send_offsets_to_transaction``
wait on a result with no timeout. :func:`guarded` runs such a call on a daemon thread and gives
up after a deadline; the caller must then treat the producer as unusable (its transaction's
outcome is unknown) and recover from the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CallTimedOutError(TimeoutError):
    """A guarded call did not finish in time; the state it was changing is unknown."""


def guarded(call: Callable[[], T], *, timeout_s: float, what: str) -> T:
    """Run ``call`` and return its result, or raise CallTimedOutError after ``timeout_s``.

    Exceptions raised by ``call`` propagate unchanged.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=f"guarded-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise CallTimedOutError(f"{what} did not finish within {timeout_s:g}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
