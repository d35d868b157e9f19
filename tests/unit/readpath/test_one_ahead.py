"""The projector's one-job-ahead worker: order, errors, one job at a time."""

from __future__ import annotations

import threading

import pytest

from supportes.consumers.ahead import OneAhead


def test_jobs_run_on_one_worker_thread_in_order() -> None:
    ahead: OneAhead[tuple[int, str]] = OneAhead("test-ahead")
    results = []
    try:
        for number in range(3):
            ahead.submit(lambda n=number: (n, threading.current_thread().name))
            results.append(ahead.wait())
    finally:
        ahead.close()
    assert [n for n, _ in results] == [0, 1, 2]
    assert len({name for _, name in results}) == 1
    assert results[0][1].startswith("test-ahead")
    assert results[0][1] != threading.current_thread().name


def test_a_job_error_is_raised_by_wait() -> None:
    ahead: OneAhead[int] = OneAhead("test-ahead")

    def failing() -> int:
        raise ValueError("bad batch")

    try:
        ahead.submit(failing)
        with pytest.raises(ValueError, match="bad batch"):
            ahead.wait()
    finally:
        ahead.close()


def test_a_second_job_waits_for_the_first_to_be_collected() -> None:
    ahead: OneAhead[int] = OneAhead("test-ahead")
    try:
        ahead.submit(lambda: 1)
        assert ahead.busy
        with pytest.raises(RuntimeError, match="still in flight"):
            ahead.submit(lambda: 2)
        assert ahead.wait() == 1
        assert not ahead.busy
        with pytest.raises(RuntimeError, match="no job in flight"):
            ahead.wait()
    finally:
        ahead.close()
