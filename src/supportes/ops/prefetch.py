"""Run an iterator one step ahead on a thread, so its waits overlap the consumer's work."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_PUT_WAIT_S = 0.2
JOIN_TIMEOUT_S = 60.0


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(source: Iterator[T], *, name: str, ahead: int = 2) -> Generator[T, None, None]:
    """Yield ``source``'s items, produced on a thread up to ``ahead`` items early.

    The source's exceptions are raised here, in order. Closing this generator early stops the
    thread at its next item and waits for it (the source may hold a connection the caller
    uses next), at most :data:`JOIN_TIMEOUT_S`.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        finally:
            if stop.is_set():
                close = getattr(source, "close", None)
                if close is not None:
                    close()
        put(_DONE)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(JOIN_TIMEOUT_S)
