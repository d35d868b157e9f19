"""``via`` in the timelines and the responsibility trail; follow-up cases in case_view."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from supportes.db.connect import connect
from supportes.ops.responsibility_audit import load_trail, responsibility_at
from tests.conftest import Isolated
from tests.support.commands import command
from tests.support.history import History, apply_all, at, rows

EARLIER = "00000000-0000-4000-8000-0000000000f1"
FOLLOW_UP = "00000000-0000-4000-8000-0000000000f2"
LATER = "00000000-0000-4000-8000-0000000000f3"
MAIL = {"id": "integration:mail", "kind": "integration"}
CRM = {"id": "integration:crm", "kind": "integration"}
OPENING = {"customer_id": "customer:zoe", "channel": "email", "subject": "Printer",
           "description": "Jams again"}  # fmt: skip


def _via(raw: dict[str, Any], via: dict[str, str]) -> dict[str, Any]:
    return {**raw, "via": via}


def _history() -> History:
    h = History()
    h.run("OpenCase", EARLIER, OPENING, minutes=0, actor="customer:zoe")
    h.run("Assign", EARLIER, {"agent_id": "agent:bob"}, minutes=1)
    # The mail gateway opens a follow-up for zoe, naming another owner than the earlier case's.
    h.submit(_via(command("OpenCase", FOLLOW_UP, {**OPENING, "follow_up_of": EARLIER,
                                                   "suggested_owner_id": "agent:dave"},
                          minutes=10, actor="customer:zoe"), MAIL))  # fmt: skip
    h.submit(_via(command("Assign", FOLLOW_UP, {"agent_id": "agent:dave"}, minutes=11), CRM))
    h.run("Assign", EARLIER, {"agent_id": "agent:carol"}, minutes=12)  # re-owned afterwards
    h.submit(_via(command("RecordContact", FOLLOW_UP, {"direction": "inbound",
                          "channel": "email", "summary": "photo attached"}, minutes=13,
                          actor="customer:zoe"), MAIL))  # fmt: skip
    h.run("Assign", FOLLOW_UP, {"agent_id": "agent:erin"}, minutes=14)
    h.submit(_via(command("Assign", FOLLOW_UP, {"agent_id": "agent:finn"}, minutes=15), CRM))
    h.run("OpenCase", LATER, OPENING, minutes=20, actor="customer:zoe")
    return h


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_case_view_shows_the_follow_up_and_its_suggested_owner(
    isolated: Isolated, batch_size: int
) -> None:
    apply_all(isolated.dsn, _history().events, batch_size=batch_size)
    found = rows(
        isolated.dsn,
        "SELECT case_id::text, follow_up_of::text, opening_suggested_owner_id, suggested_owner_id,"
        " previous_case_id::text FROM proj.case_view ORDER BY case_id",
    )
    assert found == [
        {"case_id": EARLIER, "follow_up_of": None, "opening_suggested_owner_id": None,
         "suggested_owner_id": None, "previous_case_id": None},
        # the suggestion OpenCase named wins over the earlier case's (changed) owner
        {"case_id": FOLLOW_UP, "follow_up_of": EARLIER,
         "opening_suggested_owner_id": "agent:dave", "suggested_owner_id": "agent:dave",
         "previous_case_id": EARLIER},
        # no suggestion given: the owner of the customer's previous case, as before
        {"case_id": LATER, "follow_up_of": None, "opening_suggested_owner_id": None,
         "suggested_owner_id": "agent:finn", "previous_case_id": FOLLOW_UP},
    ]  # fmt: skip


def test_the_timeline_names_the_integration(isolated: Isolated) -> None:
    apply_all(isolated.dsn, _history().events, batch_size=3)
    found = rows(
        isolated.dsn,
        "SELECT version, type, actor_id, via_id, via_kind FROM proj.case_timeline"
        " WHERE case_id = %s ORDER BY version",
        (FOLLOW_UP,),
    )
    assert found == [
        {"version": 1, "type": "CaseOpened", "actor_id": "customer:zoe",
         "via_id": "integration:mail", "via_kind": "integration"},
        {"version": 2, "type": "CaseAssigned", "actor_id": "agent:maria",
         "via_id": "integration:crm", "via_kind": "integration"},
        {"version": 3, "type": "ContactRecorded", "actor_id": "customer:zoe",
         "via_id": "integration:mail", "via_kind": "integration"},
        {"version": 4, "type": "CaseAssigned", "actor_id": "agent:maria", "via_id": None,
         "via_kind": None},
        {"version": 5, "type": "CaseAssigned", "actor_id": "agent:maria",
         "via_id": "integration:crm", "via_kind": "integration"},
    ]  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 1000])  # ended in a later batch, or in the same one
def test_the_responsibility_trail_names_the_integration(
    isolated: Isolated, batch_size: int
) -> None:
    apply_all(isolated.dsn, _history().events, batch_size=batch_size)
    found = rows(
        isolated.dsn,
        "SELECT agent_id, opened_via_id, opened_via_kind, closed_via_id, closed_via_kind"
        " FROM proj.responsibility WHERE case_id = %s ORDER BY from_version",
        (FOLLOW_UP,),
    )
    assert found == [
        {"agent_id": "agent:dave", "opened_via_id": "integration:crm",
         "opened_via_kind": "integration", "closed_via_id": None, "closed_via_kind": None},
        {"agent_id": "agent:erin", "opened_via_id": None, "opened_via_kind": None,
         "closed_via_id": "integration:crm", "closed_via_kind": "integration"},
        {"agent_id": "agent:finn", "opened_via_id": "integration:crm",
         "opened_via_kind": "integration", "closed_via_id": None, "closed_via_kind": None},
    ]  # fmt: skip
    conn = connect(isolated.dsn)
    try:
        trail = load_trail(conn, UUID(FOLLOW_UP))
    finally:
        conn.close()
    assert [i.opened_by_text for i in trail] == [
        "agent:maria via integration:crm", "agent:maria", "agent:maria via integration:crm",
    ]  # fmt: skip
    assert [i.closed_by_text for i in trail] == [
        "agent:maria", "agent:maria via integration:crm", None,
    ]  # fmt: skip
    answer = responsibility_at(UUID(FOLLOW_UP), trail, at(100)).as_dict()
    assert answer["responsible"]["opened_via"] == CRM
    assert answer["trail"][1]["closed_via"] == CRM
    assert answer["trail"][1]["opened_via"] is None
