"""One job at a time on a worker thread, so the caller can prepare the next one meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class OneAhead(Generic[T]):
    """Runs submitted jobs in order on ONE worker thread, at most one in flight.

    The caller submits a job, prepares the next while it runs, then :meth:`wait` s for it
    (which re-raises its exception) before submitting again: two jobs never run at once, and
    at most one waits in the caller's hands. The thread starts with the first job.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[T] | None = None

    @property
    def busy(self) -> bool:
        """Whether a job was submitted and not yet waited for."""
        return self._in_flight is not None

    def submit(self, job: Callable[[], T]) -> None:
        """Start ``job``; the previous one must have been waited for."""
        if self._in_flight is not None:
            raise RuntimeError("a job is still in flight: wait() for it first")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        self._in_flight = self._executor.submit(job)

    def wait(self) -> T:
        """The result of the job in flight (its exception is raised here)."""
        if self._in_flight is None:
            raise RuntimeError("no job in flight")
        future, self._in_flight = self._in_flight, None
        return future.result()

    def close(self) -> None:
        """Let the job in flight finish (its outcome is dropped) and stop the thread."""
        self._in_flight = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
