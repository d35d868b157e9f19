"""No record on the log stops a partition or the process (issue 14), through the real
``supportes serve`` and CLI: text no store can hold is refused naming the field, an oversized
command never reaches the broker, and an event written by an older version with U+0000 in it is
kept as raw bytes by the index and parked by the projections while everything goes on."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supportes.aggregates import decide, parse_command
from supportes.aggregates.hashchain import seal
from supportes.client import SupportesClient
from supportes.messaging.clients import Component, plain_producer
from supportes.messaging.routing import key_of, partition_for
from tests.conftest import Isolated
from tests.e2e.cli import error_line, run_cli
from tests.e2e.serving import start_serve
from tests.support.commands import command, open_case
from tests.support.log import read_topic
from tests.support.text_fields import (
    ROOT_CAUSE_COMMANDS,
    VALID_PAYLOADS,
    TextField,
    payload_with,
    text_fields,
)

EXIT_REJECTED = 3


def jsonl(envelopes: list[dict[str, Any]]) -> str:
    """JSON lines as a client writes them (``\\u0000`` and lone surrogates escaped)."""
    return "".join(json.dumps(e) + "\n" for e in envelopes)


def one_case_per_partition(isolated: Isolated) -> list[str]:
    """A fresh case id routed to each partition, in partition order."""
    found: dict[int, str] = {}
    while len(found) < isolated.settings.partitions:
        case_id = str(uuid.uuid4())
        found.setdefault(partition_for(case_id, isolated.settings.partitions), case_id)
    return [found[p] for p in sorted(found)]


def every_partition_answers(isolated: Isolated, minutes: float = 0) -> None:
    opened = [open_case(c, minutes) for c in one_case_per_partition(isolated)]
    result = run_cli("submit", "-", "--timeout", "60", env=isolated.env(), stdin=jsonl(opened))
    assert result.returncode == 0, result.stderr
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert statuses == ["accepted"] * isolated.settings.partitions


def restart_cleanly(
    isolated: Isolated, tmp_path: Path, serve: subprocess.Popen[bytes], name: str
) -> subprocess.Popen[bytes]:
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0
    return start_serve(isolated, tmp_path, name)


@pytest.fixture
def serving(isolated: Isolated, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``supportes serve`` for the test (the list holds the current process)."""
    processes = [start_serve(isolated, tmp_path, "serve")]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def envelope_with(field: TextField, value: str, case_id: str, root_cause_id: str) -> dict[str, Any]:
    if field.command in {"OpenCase", "IdentifyRootCause"}:
        target = str(uuid.uuid4())
    else:
        target = root_cause_id if field.command in ROOT_CAUSE_COMMANDS else case_id
    return command(field.command, target, payload_with(field, value), minutes=5)


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_in_every_field_is_invalid_and_every_partition_goes_on(
    isolated: Isolated, tmp_path: Path, serving: list[subprocess.Popen[bytes]], bad: str
) -> None:
    case_id, root_cause_id = str(uuid.uuid4()), str(uuid.uuid4())
    setup = [
        open_case(case_id),
        command("IdentifyRootCause", root_cause_id, VALID_PAYLOADS["IdentifyRootCause"]),
    ]
    fields = text_fields()
    bad_ones = [envelope_with(f, f"a{bad}b", case_id, root_cause_id) for f in fields]
    result = run_cli(
        "submit", "-", "--timeout", "60", env=isolated.env(), stdin=jsonl(setup + bad_ones)
    )
    assert result.returncode == EXIT_REJECTED, result.stderr
    results = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in results[:2]] == ["accepted", "accepted"]
    for field, answered in zip(fields, results[2:], strict=True):
        expected = f"payload.{field.name}" + ("[0]" if field.listed else "")
        assert answered["status"] == "rejected", (field, answered)
        assert answered["error"]["code"] == "invalid", (field, answered)
        assert answered["error"]["field"] == expected, (field, answered)
        assert f"U+{ord(bad):04X}" in answered["error"]["message"]

    every_partition_answers(isolated)
    serving.append(restart_cleanly(isolated, tmp_path, serving[-1], "again"))
    every_partition_answers(isolated, minutes=1)
    waited = run_cli("projections", "wait", "--timeout", "60", env=isolated.env())
    assert waited.returncode == 0, waited.stdout + waited.stderr
    parked = run_cli("projections", "parked", "--json", env=isolated.env())
    assert json.loads(parked.stdout) == []
    assert len(read_topic(isolated.settings, "events")) == 2 + 2 * isolated.settings.partitions


def test_an_oversized_command_is_refused_by_submit_naming_the_line_and_nothing_is_sent(
    isolated: Isolated, tmp_path: Path, serving: list[subprocess.Popen[bytes]]
) -> None:
    small = open_case(str(uuid.uuid4()))
    huge = open_case(str(uuid.uuid4()))
    huge["payload"]["description"] = "x" * 2_000_000
    result = run_cli("submit", "-", env=isolated.env(), stdin=jsonl([small, huge]))
    assert result.returncode == 2, result.stderr
    line = error_line(result)
    assert "stdin line 2" in line
    assert "1,000,000 bytes" in line
    assert "SUPPORTES_MAX_COMMAND_BYTES" in line
    assert read_topic(isolated.settings, "commands") == []

    # Under the record limit but over the field's: `submit` checks the text before sealing it
    # and refuses it naming the field; nothing is sent (no plaintext reaches a topic).
    large = open_case(str(uuid.uuid4()))
    large["payload"]["description"] = "y" * 900_000
    answered = run_cli("submit", "-", env=isolated.env(), stdin=jsonl([large]))
    assert answered.returncode == EXIT_REJECTED, answered.stderr
    error = json.loads(answered.stdout)["error"]
    assert (error["code"], error["field"]) == ("invalid", "payload.description")
    assert read_topic(isolated.settings, "commands") == []
    # A client that does not seal reaches the writer: invalid naming it, dead-lettered, no stall.
    with SupportesClient(isolated.settings) as plain:
        (refused,) = plain.submit([large])
    assert (refused["error"]["code"], refused["error"]["field"]) == (
        "invalid",
        "payload.description",
    )
    letters = read_topic(isolated.settings, "dead-letters")
    assert len(letters) == 1
    assert len(letters[0][3]["payload"]["description"]) == 900_000
    every_partition_answers(isolated)
    serving.append(restart_cleanly(isolated, tmp_path, serving[-1], "again"))
    every_partition_answers(isolated, minutes=1)


def event_from_an_older_version(case_id: str, bad: str) -> dict[str, Any]:
    """A properly sealed ``CaseOpened`` whose subject holds ``bad``, as a log written before the
    domain refused it would hold."""
    opened = parse_command(open_case(case_id))
    event = dict(decide(opened, None, last_hash=None, audit_key=None).events[0])
    if bad == "\x00":
        return seal({**event, "payload": {**event["payload"], "subject": f"Router{bad}reboots"}})
    # No version could seal a lone surrogate (the canonical form is UTF-8): one on the log was
    # put there by hand, and its hash cannot match; everything else must hold all the same.
    sealed = seal(event)
    return {**sealed, "payload": {**sealed["payload"], "subject": f"Router{bad}reboots"}}


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_an_old_event_with_unstorable_text_is_kept_raw_and_parked_and_serve_goes_on(
    isolated: Isolated, tmp_path: Path, bad: str
) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    producer = plain_producer(settings, Component.ADMIN)  # a record no writer would write
    try:
        producer.send(
            settings.topic("events"),
            key=key_of(case_id),
            value=json.dumps(event_from_an_older_version(case_id, bad)).encode(),
            partition=partition_for(case_id, settings.partitions),
        ).get(timeout=30)
    finally:
        producer.close(timeout=10)

    serve = start_serve(isolated, tmp_path, "serve")  # its writer catches the index up first
    try:
        ack = command("Acknowledge", case_id, {}, minutes=2)
        answered = run_cli("submit", "-", env=isolated.env(), stdin=jsonl([ack]))
        assert answered.returncode == 0, answered.stdout + answered.stderr
        assert json.loads(answered.stdout)["version"] == 2  # loaded with the raw event
        every_partition_answers(isolated)
        waited = run_cli("projections", "wait", "--timeout", "60", env=isolated.env())
        assert waited.returncode == 0, waited.stdout + waited.stderr

        parked = json.loads(run_cli("projections", "parked", "--json", env=isolated.env()).stdout)
        stores = {row["store"] for row in parked}
        assert "event_index" in stores
        assert any(store.startswith("proj.") for store in stores)
        index_row = next(row for row in parked if row["store"] == "event_index")
        assert index_row["aggregate_id"] == case_id
        assert index_row["version"] == 1
        assert f"U+{ord(bad):04X}" in index_row["reason"]
        assert all(row["reason"] for row in parked)

        status = json.loads(run_cli("stack", "status", "--json", env=isolated.env()).stdout)
        detail = next(c for c in status if c["component"] == "parked")["detail"]
        assert detail.startswith("1 in the event index")
        verified = run_cli("audit", "verify", env=isolated.env(), timeout_s=120)
        if bad == "\x00":
            assert verified.returncode == 0, verified.stdout + verified.stderr
        else:  # the hand-made event is named, nothing else is
            assert verified.returncode == 4, verified.stdout + verified.stderr
            assert case_id in verified.stdout + verified.stderr
        history = run_cli("case", "history", case_id, "--from-log", "--json", env=isolated.env())
        assert history.returncode == (0 if bad == "\x00" else 4), history.stdout + history.stderr
        escaped = json.dumps(bad)[1:-1]  # \u0000, \ud800
        assert f"Router{escaped}reboots" in history.stdout  # the old event, read back from the log

        serve = restart_cleanly(isolated, tmp_path, serve, "again")
        every_partition_answers(isolated, minutes=3)
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=30) == 0
