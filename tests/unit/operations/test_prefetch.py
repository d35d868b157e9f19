"""``prefetched``: items in order, the source's error raised in its place, an early close stops
the thread and closes the source."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from supportes.ops.prefetch import prefetched


def test_items_come_in_order_and_all_of_them() -> None:
    assert list(prefetched(iter(range(1000)), name="t", ahead=3)) == list(range(1000))
    assert list(prefetched(iter([]), name="t")) == []


def test_the_sources_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken at 3")

    items = prefetched(source(), name="t")
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match="broken at 3"):
        next(items)


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for n in range(10**6):
                produced.append(n)
                yield n
        finally:
            closed.set()

    items = prefetched(source(), name="prefetch-under-test", ahead=2)
    assert next(items) == 0
    items.close()
    assert closed.is_set()
    assert len(produced) <= 5  # the thread ran at most a few items ahead
    assert not any(t.name == "prefetch-under-test" for t in threading.enumerate())
