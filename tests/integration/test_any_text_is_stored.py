"""Any text in any text field of any command, through the real writer and projector: it is
``invalid`` naming that field, or it is accepted and then stored by the event index and every
projection - nothing parked, no partition stalled (issue 14). Bounded: a fixed number of
hypothesis examples, each a fresh aggregate, each waited for."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportes.client import SupportesClient
from supportes.consumers.projector import Projector
from supportes.messaging.routing import partition_for
from supportes.ops.projection_status import wait_until_caught_up
from tests.conftest import Isolated
from tests.support.commands import command, open_case
from tests.support.log import read_topic, running_writer
from tests.support.text_fields import (
    ROOT_CAUSE_COMMANDS,
    VALID_PAYLOADS,
    TextField,
    payload_with,
    text_fields,
)

FIELDS = text_fields()
TEXT = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=200)
LONG = st.text(min_size=1, max_size=20).map(lambda t: t * 1_500)


def test_any_text_is_invalid_naming_its_field_or_stored_everywhere(isolated: Isolated) -> None:
    stop = threading.Event()
    projector = Projector(isolated.settings, group_id=isolated.projector_group)
    projecting = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    projecting.start()
    outcomes: dict[str, int] = {"accepted": 0, "invalid": 0, "rule": 0}
    try:
        with (
            running_writer(isolated.settings, isolated.group_id),
            SupportesClient(isolated.settings) as client,
        ):

            @settings(
                max_examples=60,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                database=None,
            )
            @given(field=st.sampled_from(FIELDS), text=TEXT | LONG)
            def one_field(field: TextField, text: str) -> None:
                outcomes[submit_with(client, field, text)] += 1

            one_field()
            every_partition_answers(isolated, client)
        assert wait_until_caught_up(isolated.settings, timeout_s=120)
    finally:
        stop.set()
        projecting.join(timeout=60)
    assert outcomes["accepted"] > 10, outcomes
    assert outcomes["invalid"] > 5, outcomes
    with psycopg2.connect(isolated.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_index.parked_records")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM proj.parked_events")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM event_index.events")
        indexed = cur.fetchone()
        cur.execute("SELECT count(*) FROM proj.case_timeline")
        timeline = cur.fetchone()
    events = read_topic(isolated.settings, "events")
    assert indexed == (len(events),)
    case_events = [e for *_, e in events if e["aggregate_type"] == "Case"]
    assert timeline == (len(case_events),)


def submit_with(client: SupportesClient, field: TextField, text: str) -> str:
    """Submit ``field`` = ``text`` on a fresh aggregate; ``accepted``, ``invalid`` (asserting it
    names the field) or ``rule`` (a rule of the aggregate's state refused it)."""
    aggregate = str(uuid.uuid4())
    setup: list[dict[str, Any]] = []
    if field.command in ROOT_CAUSE_COMMANDS and field.command != "IdentifyRootCause":
        setup.append(command("IdentifyRootCause", aggregate, VALID_PAYLOADS["IdentifyRootCause"]))
        if field.command == "CompletePreventiveAction":
            plan = VALID_PAYLOADS["PlanPreventiveAction"]
            setup.append(command("PlanPreventiveAction", aggregate, plan))
    elif field.command not in ("OpenCase", "IdentifyRootCause"):
        setup.append(open_case(aggregate))
    payload = payload_with(field, text)
    results = client.submit([*setup, command(field.command, aggregate, payload, minutes=5)])
    assert all(r["status"] == "accepted" for r in results[:-1]), results
    result = results[-1]
    if result["status"] == "accepted":
        return "accepted"
    error = result["error"]
    if error["code"] == "invalid":
        assert (error["field"] or "").startswith(f"payload.{field.name}"), (field, error)
        return "invalid"
    return "rule"


def every_partition_answers(isolated: Isolated, client: SupportesClient) -> None:
    found: dict[int, str] = {}
    while len(found) < isolated.settings.partitions:
        case_id = str(uuid.uuid4())
        found.setdefault(partition_for(case_id, isolated.settings.partitions), case_id)
    results = client.submit([open_case(c) for c in found.values()], timeout_s=60)
    assert [r["status"] for r in results] == ["accepted"] * len(found)
