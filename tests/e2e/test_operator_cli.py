"""The operators' and auditors' verbs, driven as the installed executable against the real stack.

One scripted lifecycle (``tests/e2e/lifecycle.py``) is submitted through ``supportes submit`` to a
``supportes serve`` subprocess; the read verbs are then checked against what the script did.
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from supportes.settings import Settings
from tests.conftest import Isolated, isolated_corner
from tests.e2e.cli import error_line, free_port, run_cli
from tests.e2e.lifecycle import CASE_A, CASE_B, NOT_A_CASE, ROOT_CAUSE, lifecycle, minutes_after_t0
from tests.e2e.serving import start_serve
from tests.support.commands import command, open_case


def _jsonl(envelopes: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in envelopes)


class Served:
    """A corner of the stack with ``supportes serve`` running and the lifecycle submitted."""

    def __init__(
        self,
        corner: Isolated,
        sent: list[dict[str, Any]],
        submitted: subprocess.CompletedProcess[str],
    ) -> None:
        self.corner = corner
        self.env = corner.env()
        self.sent = sent
        self.submitted = submitted

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a verb against this corner."""
        return run_cli(*args, env=self.env, stdin=stdin, timeout_s=120)

    def json(self, *args: str) -> Any:
        """Run a read verb with ``--json``; it must exit 0."""
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def served(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logs: Path = tmp_path_factory.mktemp("serve")
    with isolated_corner(stack) as corner:
        env = corner.env()
        process = start_serve(corner, logs, "serve")
        try:
            sent = lifecycle()
            submitted = run_cli("submit", "-", env=env, stdin=_jsonl(sent))
            waited = run_cli("projections", "wait", "--timeout", "60", env=env)
            assert waited.returncode == 0, waited.stdout + waited.stderr
            yield Served(corner, sent, submitted)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0, (logs / "serve.log").read_text()


# -- submit ----------------------------------------------------------------------------------


def test_submit_prints_one_result_per_line_in_input_order_and_exits_0(served: Served) -> None:
    assert served.submitted.returncode == 0, served.submitted.stderr
    results = [json.loads(line) for line in served.submitted.stdout.splitlines()]
    assert [r["command_id"] for r in results] == [c["command_id"] for c in served.sent]
    assert {r["status"] for r in results} == {"accepted"}


def test_submit_exits_3_when_some_command_is_rejected(served: Served) -> None:
    fresh = str(uuid.uuid4())
    later = 5 * 24 * 60  # another day: the lifecycle's reports stay as scripted
    once = command("Acknowledge", fresh, {}, minutes=later + 1)
    twice = command("Acknowledge", fresh, {}, minutes=later + 2)
    result = served.cli("submit", "-", stdin=_jsonl([open_case(fresh, later), once, twice]))
    assert result.returncode == 3, result.stderr
    opened, first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert opened["status"] == first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert second["error"]["code"] == "already_acknowledged"


def test_submit_refuses_a_malformed_line_and_sends_nothing(served: Served) -> None:
    fresh = str(uuid.uuid4())
    result = served.cli("submit", "-", stdin=_jsonl([open_case(fresh)]) + "{not json\n")
    assert result.returncode == 2
    assert "stdin line 2: not JSON" in error_line(result)
    assert result.stdout == ""
    missing = served.cli("submit", "-", stdin='{"type": "OpenCase", "command_id": "x"}\n')
    assert missing.returncode == 2
    assert "line 1: command_id must be a UUID" in error_line(missing)
    # the valid first line was not sent either
    assert served.cli("projections", "wait", "--timeout", "30").returncode == 0
    unknown = served.cli("case", "show", fresh)
    assert unknown.returncode == 2
    assert f"unknown case id {fresh}" in error_line(unknown)


def test_submit_exits_1_when_kafka_is_unreachable(served: Served) -> None:
    env = {**served.env, "SUPPORTES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    result = run_cli("submit", "-", env=env, stdin=_jsonl([open_case(str(uuid.uuid4()))]))
    assert result.returncode == 1
    assert "SUPPORTES_KAFKA_BOOTSTRAP" in error_line(result)


# -- case show / history ---------------------------------------------------------------------


def test_case_show_has_the_current_row(served: Served) -> None:
    shown = served.json("case", "show", CASE_A)
    case = shown["case"]
    assert case["status"] == "closed"
    assert case["owner_id"] == "agent:lead"
    assert case["owners"] == ["agent:bob", "agent:lead"]
    assert (case["reopen_count"], case["escalations"], case["csat_score"]) == (1, 1, 4)
    assert case["csat_owner_id"] == "agent:lead"
    assert case["root_cause_id"] == ROOT_CAUSE
    assert shown["open_follow_ups"] == []
    by_reference = served.cli("case", "show", case["reference"])
    assert by_reference.returncode == 0, by_reference.stderr
    assert ["status", "closed"] in [line.split() for line in by_reference.stdout.splitlines()]


def test_case_history_lists_every_event_with_its_place_in_the_log(served: Served) -> None:
    history = served.json("case", "history", CASE_A)
    events = history["events"]
    assert [e["version"] for e in events] == list(range(1, 15))
    assert [e["type"] for e in events][8:10] == ["FollowUpRecorded", "CaseReopened"]
    assert events[4]["actor"] == "agent:bob"
    assert events[4]["summary"].startswith("Escalated to agent:lead: needs refund authority")
    assert len({e["partition"] for e in events}) == 1
    offsets = [e["offset"] for e in events]
    assert offsets == sorted(offsets)
    human = served.cli("case", "history", CASE_A)
    assert human.returncode == 0
    lines = human.stdout.splitlines()
    assert lines[0] == f"case {CASE_A}: 14 events"
    assert lines[2].split() == ["VERSION", "OCCURRED_AT", "ACTOR", "TYPE", "SUMMARY",
                                "PARTITION", "OFFSET"]  # fmt: skip


def test_case_history_as_of_rebuilds_the_state_at_that_time(served: Served) -> None:
    at = minutes_after_t0(35)  # after the escalation, before the fix
    then = served.json("case", "history", CASE_A, "--as-of", at)
    assert [e["type"] for e in then["events"]][-1] == "CaseEscalated"
    assert then["state"]["version"] == 5
    assert then["state"]["status"] == "assigned"
    assert then["state"]["escalations"] == 1
    assert then["state"]["resolved_at"] is None
    assert then["state"]["root_cause_id"] is None
    later = served.json("case", "history", CASE_A, "--as-of", minutes_after_t0(85))
    assert later["state"]["status"] == "assigned"  # reopened by the follow-up
    assert later["state"]["reopen_count"] == 1
    before = served.cli("case", "history", CASE_A, "--as-of", minutes_after_t0(-5))
    assert before.returncode == 2
    assert "the case did not exist yet" in error_line(before)
    malformed = served.cli("case", "history", CASE_A, "--as-of", "last tuesday")
    assert malformed.returncode == 2
    assert "--as-of: malformed time 'last tuesday'" in error_line(malformed)


def test_case_history_from_log_confirms_every_offset(served: Served) -> None:
    checked = served.json("case", "history", CASE_A, "--from-log")
    assert checked["log_check"] == {"checked": 14, "differences": []}
    human = served.cli("case", "history", CASE_A, "--from-log")
    assert "log check: all 14 events read back from Kafka" in human.stdout


def test_case_history_from_log_fails_loudly_on_an_altered_index_row(served: Served) -> None:
    conn = psycopg2.connect(served.corner.dsn)
    conn.autocommit = True
    update = (
        "UPDATE event_index.events SET envelope = jsonb_set(envelope, '{payload,reason}', %s)"
        " WHERE aggregate_id = %s AND version = 5"
    )
    with conn.cursor() as cur:  # the reason as the log holds it (sealed), to put back
        cur.execute(
            "SELECT envelope->'payload'->'reason' FROM event_index.events"
            " WHERE aggregate_id = %s AND version = 5",
            (CASE_A,),
        )
        (original,) = cur.fetchone()
    try:
        with conn.cursor() as cur:
            cur.execute(update, (json.dumps("no authority needed"), CASE_A))
        result = served.cli("case", "history", CASE_A, "--from-log")
        assert result.returncode == 4
        line = error_line(result)
        assert f"case {CASE_A} version 5" in line
        assert "index and log differ in payload" in line
    finally:
        with conn.cursor() as cur:
            cur.execute(update, (json.dumps(original), CASE_A))
        conn.close()
    assert served.cli("case", "history", CASE_A, "--from-log").returncode == 0


def test_case_history_from_log_exits_1_when_kafka_is_unreachable(served: Served) -> None:
    env = {**served.env, "SUPPORTES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    result = run_cli("case", "history", CASE_A, "--from-log", env=env)
    assert result.returncode == 1
    assert "SUPPORTES_KAFKA_BOOTSTRAP" in error_line(result)


def test_unknown_case_ids_are_usage_errors(served: Served) -> None:
    for verb in (("case", "show"), ("case", "history"), ("audit", "responsibility")):
        result = served.cli(*verb, NOT_A_CASE)
        assert result.returncode == 2
        assert f"unknown case id {NOT_A_CASE}" in error_line(result)
    garbage = served.cli("case", "show", "ticket-7")
    assert garbage.returncode == 2
    assert "'ticket-7' is not a case id" in error_line(garbage)


# -- reports and queue -----------------------------------------------------------------------


def test_report_repeat_issues_by_every_grouping(served: Served) -> None:
    [root_cause] = served.json("report", "repeat-issues")
    assert root_cause["root_cause_id"] == ROOT_CAUSE
    assert (root_cause["cases_total"], root_cause["open_preventive_actions"]) == (1, 1)
    topics = served.json("report", "repeat-issues", "--by", "topic")
    [topic] = [t for t in topics if t["category"] == "billing"]
    assert (topic["category"], topic["product"], topic["cases_total"]) == ("billing", "router", 2)
    assert topic["known_answers_given"] == 1
    customers = served.json("report", "repeat-issues", "--by", "customer")
    customer = customers[0]  # the one with the most cases
    assert (customer["customer_id"], customer["cases"], customer["reopenings"]) == (
        "customer:ann", 2, 1,
    )  # fmt: skip
    [answer] = served.json("report", "repeat-issues", "--by", "known-answer")
    assert (answer["known_answer_id"], answer["times_given"]) == ("KB-1", 1)
    human = served.cli("report", "repeat-issues", "--by", "topic")
    assert ["billing", "router", "2"] in [line.split()[:3] for line in human.stdout.splitlines()]
    bad = served.cli("report", "repeat-issues", "--by", "weather")
    assert bad.returncode == 2
    assert "--by: unknown grouping 'weather'" in error_line(bad)


def test_report_metrics_for_a_day_range(served: Served) -> None:
    day = minutes_after_t0(0)[:10]
    report = served.json("report", "metrics", "--from", day, "--to", day)
    [metrics] = report["days"]
    assert (metrics["day"], metrics["opened"], metrics["reopenings"]) == (day, 2, 1)
    assert (metrics["escalations"], metrics["csat_count"], metrics["csat_average"]) == (1, 1, 4.0)
    assert report["totals"]["opened"] == 2
    assert served.json("report", "metrics", "--to", "2000-01-01")["days"] == []
    reversed_range = served.cli("report", "metrics", "--from", day, "--to", "2000-01-01")
    assert reversed_range.returncode == 2
    bad_day = served.cli("report", "metrics", "--from", "22/11/2026")
    assert bad_day.returncode == 2
    assert "--from: malformed day '22/11/2026'" in error_line(bad_day)


def test_queue_follow_ups_lists_what_is_due_at_now(served: Served) -> None:
    # B opened at +200 min (normal priority), never acknowledged: due at +260 min, owner carol
    before = served.json("queue", "follow-ups", "--now", minutes_after_t0(259))
    assert [i for i in before if i["case_id"] == CASE_B and i["kind"] == "acknowledge"] == []
    due = served.json("queue", "follow-ups", "--now", minutes_after_t0(270))
    [item] = [i for i in due if i["case_id"] == CASE_B and i["kind"] == "acknowledge"]
    assert (item["owner_id"], item["overdue_seconds"]) == ("agent:carol", 600)
    only = served.json(
        "queue", "follow-ups", "--now", minutes_after_t0(270), "--kind", "acknowledge",
        "--owner", "agent:carol",
    )  # fmt: skip
    assert only == [item]
    assert served.json("queue", "follow-ups", "--now", minutes_after_t0(270),
                       "--owner", "agent:nobody") == []  # fmt: skip
    human = served.cli("queue", "follow-ups", "--now", minutes_after_t0(270), "--kind",
                       "acknowledge")  # fmt: skip
    assert "acknowledge" in human.stdout
    assert "0h10m" in human.stdout
    bad = served.cli("queue", "follow-ups", "--kind", "lunch")
    assert bad.returncode == 2
    assert "--kind: unknown kind 'lunch'" in error_line(bad)


# -- audit responsibility ----------------------------------------------------------------------


def test_audit_responsibility_at_a_time_and_the_chain_of_hand_offs(served: Served) -> None:
    early = served.json("audit", "responsibility", CASE_A, "--at", minutes_after_t0(15))
    assert early["holders"]["assignee"]["agent_id"] == "agent:bob"
    assert early["holders"]["assignee"]["opened_by"] == "agent:maria"
    assert early["holders"]["escalation"] is None
    assert early["responsible"]["agent_id"] == "agent:bob"
    escalated = served.json("audit", "responsibility", CASE_A, "--at", minutes_after_t0(35))
    assert escalated["holders"]["escalation"]["agent_id"] == "agent:lead"
    assert escalated["holders"]["escalation"]["opened_by"] == "agent:bob"
    assert escalated["responsible"]["agent_id"] == "agent:lead"
    trail = escalated["trail"]
    assert [(i["role"], i["agent_id"], i["opened_by"]) for i in trail] == [
        ("assignee", "agent:bob", "agent:maria"),
        ("assignee", "agent:lead", "agent:bob"),
        ("escalation", "agent:lead", "agent:bob"),
    ]
    assert trail[0]["to_at"] == trail[1]["from_at"]
    after_close = served.json("audit", "responsibility", CASE_A, "--at", minutes_after_t0(200))
    assert after_close["responsible"] is None
    human = served.cli("audit", "responsibility", CASE_A, "--at", minutes_after_t0(35))
    assert "responsible for the case: agent:lead (escalation)" in human.stdout
    bad = served.cli("audit", "responsibility", CASE_A, "--at", "soon")
    assert bad.returncode == 2
    assert "--at: malformed time 'soon'" in error_line(bad)


def test_projections_wait_exits_5_on_timeout(isolated: Isolated) -> None:
    from supportes.client import SupportesClient
    from tests.support.log import running_writer

    env = isolated.env()
    with (
        running_writer(isolated.settings, isolated.group_id),
        SupportesClient(isolated.settings) as client,
    ):
        client.submit([open_case(str(uuid.uuid4()))])
    result = run_cli("projections", "wait", "--timeout", "2", env=env)  # no projector runs
    assert result.returncode == 5
    assert "not caught up after 2s" in result.stdout


def test_read_verbs_exit_1_naming_the_setting_when_postgres_is_unreachable(
    served: Served,
) -> None:
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    blank = {name: "" for name in served.env if name.startswith("SUPPORTES_PG_")}  # fall back
    env = {**served.env, **blank, "SUPPORTES_PG_DSN": unreachable}
    for verb in (("case", "show", CASE_A), ("report", "metrics"), ("queue", "follow-ups")):
        result = run_cli(*verb, env=env)
        assert result.returncode == 1, verb
        assert "cannot connect to PostgreSQL" in error_line(result)
        assert "SUPPORTES_PG_DSN" in error_line(result)


# -- fix everything twice (issue 21); last: it adds a case and a root cause to the reports ----


def test_a_workaround_leaves_a_root_cause_needed_item_until_the_root_cause_is_linked(
    served: Served,
) -> None:
    fresh, root_cause = str(uuid.uuid4()), str(uuid.uuid4())
    later = 10 * 24 * 60  # another day: the lifecycle's reports stay as scripted
    resolved_at, sla = later + 3, 3 * 24 * 60  # SUPPORTES_SLA_ROOT_CAUSE: 3 days by default
    quick_fix = [
        open_case(fresh, later),
        command("Assign", fresh, {"agent_id": "agent:tom"}, minutes=later + 1),
        command("ApplyFix", fresh, {"kind": "workaround", "summary": "use a cable"},
                minutes=later + 2, actor="agent:tom"),
        command("Resolve", fresh, {"resolution": "works with a cable"}, minutes=resolved_at,
                actor="agent:tom"),
    ]  # fmt: skip
    assert served.cli("submit", "-", stdin=_jsonl(quick_fix)).returncode == 0
    assert served.cli("projections", "wait", "--timeout", "60").returncode == 0

    def items(at_minutes: float) -> list[dict[str, Any]]:
        due = served.json("queue", "follow-ups", "--now", minutes_after_t0(at_minutes),
                          "--kind", "root_cause_needed")  # fmt: skip
        return [i for i in due if i["case_id"] == fresh]

    assert items(resolved_at + sla - 1) == []  # not due yet
    [item] = items(resolved_at + sla + 60)
    assert (item["kind"], item["owner_id"], item["overdue_seconds"]) == (
        "root_cause_needed", "agent:tom", 3600,
    )  # fmt: skip
    assert "link the root cause" in item["detail"]
    human = served.cli("queue", "follow-ups", "--now", minutes_after_t0(resolved_at + sla + 60),
                       "--owner", "agent:tom")  # fmt: skip
    assert "root_cause_needed" in human.stdout

    second_fix = [
        command("IdentifyRootCause", root_cause, {"title": "Flaky Wi-Fi firmware",
                "description": "drops under load"}, minutes=later + 10, actor="agent:lead"),
        command("LinkRootCause", fresh, {"root_cause_id": root_cause}, minutes=later + 11,
                actor="agent:tom"),
    ]  # fmt: skip
    assert served.cli("submit", "-", stdin=_jsonl(second_fix)).returncode == 0
    assert served.cli("projections", "wait", "--timeout", "60").returncode == 0
    assert items(resolved_at + sla + 60) == []  # gone: fixed twice

    day = minutes_after_t0(later)[:10]
    [metrics] = served.json("report", "metrics", "--from", day, "--to", day)["days"]
    assert (metrics["root_cause_needed"], metrics["fixed_twice"], metrics["fix_twice_rate"]) == (
        1, 1, 1.0,
    )  # fmt: skip
    human_metrics = served.cli("report", "metrics", "--from", day, "--to", day)
    assert "FIX_TWICE_RATE" in human_metrics.stdout
