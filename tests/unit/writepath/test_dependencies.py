"""Which failures are outages to ride out, and which are the data's or the code's fault."""

from __future__ import annotations

import threading

import psycopg2
import psycopg2.extensions
import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAuthorizationFailedError

from supportes.consumers.dependencies import Backoff, Stopping, dependency_of
from supportes.errors import DatabaseUnavailableError
from supportes.messaging.guard import CallTimedOutError


@pytest.mark.parametrize(
    ("exc", "dependency"),
    [
        (psycopg2.OperationalError("server closed the connection unexpectedly"), "postgresql"),
        (psycopg2.InterfaceError("connection already closed"), "postgresql"),
        (DatabaseUnavailableError("cannot connect"), "postgresql"),
        (psycopg2.extensions.QueryCanceledError("canceling statement due to statement timeout"),
         "postgresql"),
        (psycopg2.extensions.QueryCanceledError("COPY from stdin failed: error in .read() call"),
         None),
        (psycopg2.DataError("invalid input syntax for type json"), None),
        (ValueError("A string literal cannot contain NUL (0x00) characters."), None),
        (KafkaConnectionError("111 ECONNREFUSED"), "kafka"),
        (KafkaTimeoutError(), "kafka"),
        (CallTimedOutError("commit did not finish within 30s"), "kafka"),
        (TopicAuthorizationFailedError(), None),
        (KeyError("a bug"), None),
    ],
)  # fmt: skip
def test_transient_failures_name_their_dependency(exc: Exception, dependency: str | None) -> None:
    assert dependency_of(exc) == dependency


def raise_a_bug_while_handling_an_outage() -> None:
    try:
        raise psycopg2.OperationalError("server closed the connection unexpectedly")
    except psycopg2.OperationalError:
        raise KeyError("a bug")  # noqa: B904 - the implicit context is the point


def test_a_bug_raised_while_handling_an_outage_is_still_a_bug() -> None:
    with pytest.raises(KeyError) as caught:
        raise_a_bug_while_handling_an_outage()
    assert caught.value.__context__ is not None
    assert dependency_of(caught.value) is None


def test_an_outage_raised_from_another_error_names_its_dependency() -> None:
    wrapped = RuntimeError("index write failed")
    wrapped.__cause__ = KafkaConnectionError("111 ECONNREFUSED")
    assert dependency_of(wrapped) == "kafka"


def test_a_wait_ends_at_once_on_stop() -> None:
    stop = threading.Event()
    backoff = Backoff("writer", stop, first_s=30)
    threading.Timer(0.1, stop.set).start()
    with pytest.raises(Stopping):
        backoff.wait("postgresql", psycopg2.OperationalError("gone"))
    with pytest.raises(Stopping):  # and any later one does not start
        backoff.wait("postgresql", psycopg2.OperationalError("gone"))
