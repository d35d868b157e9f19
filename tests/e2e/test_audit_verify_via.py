"""``supportes audit verify`` covers ``via``: a case written through an integration verifies, and
an event whose ``via`` was changed on the log (hash kept) is named (exit 4)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from supportes.aggregates import decide, last_hash_of, parse_command, rebuild
from supportes.client import SupportesClient
from tests.conftest import Isolated
from tests.e2e.test_audit_verify import EXIT_BROKEN, Trail, verify
from tests.support.commands import command, open_case
from tests.support.log import forge_events, read_topic, running_writer

MAIL = {"id": "integration:mail", "kind": "integration"}


def _contact(case_id: str, minutes: float) -> dict[str, Any]:
    body = {"direction": "inbound", "channel": "email", "summary": "a photo of the jam"}
    raw = command("RecordContact", case_id, body, minutes=minutes, actor="customer:1")
    return {**raw, "via": MAIL}


def test_a_via_changed_on_the_log_breaks_the_hash_chain(isolated: Isolated) -> None:
    settings = isolated.settings
    case_id = str(uuid.uuid4())
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        results = client.submit(
            [{**open_case(case_id), "via": MAIL}, _contact(case_id, 1)], timeout_s=150
        )
    assert all(r["status"] == "accepted" for r in results), results
    trail = Trail(isolated, [case_id], case_id, read_topic(settings, "events"))
    chain = trail.of(case_id)
    assert [e.get("via") for e in chain] == [MAIL, MAIL]
    result, report = verify(trail, "--case", case_id)
    assert result.returncode == 0, result.stderr
    assert report["checks"]["hash_chain"] == {"checked": 2, "failed": 0}

    # The next event as the writer would seal it, then its via swapped for another integration.
    current = rebuild(chain)
    decision = decide(parse_command(_contact(case_id, 2)), current, last_hash=last_hash_of(current))
    forged = copy.deepcopy(decision.events[0])
    forged["via"] = {"id": "integration:portal", "kind": "integration"}
    (position,) = forge_events(trail.isolated.settings, [forged])

    result, report = verify(trail, "--case", case_id)
    assert result.returncode == EXIT_BROKEN
    first = report["first_failure"]
    assert (first["check"], first["version"]) == ("hash_chain", 3)
    assert (first["partition"], first["offset"]) == position
    assert "hash mismatch" in first["reason"]
