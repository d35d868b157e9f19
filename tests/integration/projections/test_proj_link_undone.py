"""A link to a root cause that refused the case, undone by the writer's compensation: every
projection that follows a case's root cause falls back to the link still standing."""

from __future__ import annotations

from tests.conftest import Isolated
from tests.integration.projections.stories import RC1, A, B
from tests.support.history import History, apply_all, rows

MISSING = "00000000-0000-4000-8000-0000000000ff"
"""A root cause nobody identified: its AttachCase is refused."""


def _history() -> History:
    h = History()
    for case, customer in ((A, "customer:ann"), (B, "customer:bo")):
        h.run("OpenCase", case, {"customer_id": customer, "channel": "email", "subject": "S",
              "description": "D", "category": "billing", "product": "router"},
              minutes=0, actor=customer)  # fmt: skip
    h.run("IdentifyRootCause", RC1, {"title": "Firmware", "description": "2.1 drops"}, minutes=1)
    h.run("LinkRootCause", A, {"root_cause_id": RC1}, minutes=2)
    h.run("LinkRootCause", A, {"root_cause_id": MISSING}, minutes=3)
    h.run("LinkRootCause", B, {"root_cause_id": MISSING}, minutes=4)
    return h


def test_the_history_holds_each_compensation() -> None:
    types = [(e.envelope["aggregate_id"], e.envelope["type"]) for e in _history().events]
    assert types.count((A, "RootCauseLinkUndone")) == 1
    assert types.count((B, "RootCauseLinkUndone")) == 1
    assert (RC1, "CaseAttached") in types
    assert not [t for t in types if t[0] == MISSING]


def test_projections_follow_the_link_still_standing(isolated: Isolated) -> None:
    apply_all(isolated.dsn, _history().events, batch_size=3)
    assert rows(
        isolated.dsn, "SELECT case_id::text, root_cause_id::text FROM proj.case_view ORDER BY 1"
    ) == [{"case_id": A, "root_cause_id": RC1}, {"case_id": B, "root_cause_id": None}]
    assert rows(
        isolated.dsn,
        "SELECT case_id::text, root_cause_id::text FROM proj.repeat_issues_cases ORDER BY 1",
    ) == [{"case_id": A, "root_cause_id": RC1}, {"case_id": B, "root_cause_id": None}]
    assert rows(
        isolated.dsn,
        "SELECT cases_total, cases_without_root_cause FROM proj.repeat_issues_by_topic",
    ) == [{"cases_total": 2, "cases_without_root_cause": 1}]  # B: its only link was refused
    assert rows(
        isolated.dsn,
        "SELECT case_id::text, summary FROM proj.case_timeline"
        " WHERE type = 'RootCauseLinkUndone' ORDER BY 1",
    ) == [
        {
            "case_id": A,
            "summary": f"Link to root cause {MISSING} undone: it refused the case (not_found);"
            f" linked to {RC1} again",
        },
        {
            "case_id": B,
            "summary": f"Link to root cause {MISSING} undone: it refused the case (not_found)",
        },
    ]
