"""The web console in a real browser (Debian's chromium, Playwright) against a real `supportes
serve` on the demo data: sign in, find and open a case, its timeline, the responsibility chart,
time travel, the log check, the live queue, the repeat issues and the metrics charts. Every
page is screenshotted, checked by axe-core and for CSP violations (tests/e2e/browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from supportes.auth import Role
from supportes.bench.chromium import chromium
from supportes.settings import Settings
from tests.conftest import isolated_corner
from tests.e2e.api_support import Api, command, open_case_body, running_api, wait_for
from tests.e2e.browser import (
    Visits,
    browsing,
    check_page,
    screenshot_dir,
    sign_in,
    wait_for_charts,
)
from tests.e2e.cli import run_cli

CUSTOMER = "customer:c-0042"
HTML = {"Accept": "text/html"}  # what a browser navigation asks for
HOSTILE_SUBJECT = (
    '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
    "<b>bold</b> & </textarea>"
)


@dataclass(frozen=True)
class Console:
    """The running API with the demo data, a story case and a hostile one."""

    api: Api
    story_id: str
    story_reference: str
    story_events: int
    hostile_id: str
    shots: Path

    def token(self, principal: str, *roles: Role, customer_id: str | None = None) -> str:
        """An API token for ``principal``."""
        return self.api.token(principal, *roles, customer_id=customer_id)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, stack: Settings) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    with isolated_corner(stack) as corner, running_api(corner, tmp) as api:
        demo = run_cli("demo", "--cases", "24", env=corner.env())
        assert demo.returncode == 0, demo.stderr
        story = open_case_body(CUSTOMER, subject="Invoice shows the wrong VAT rate")
        hostile = open_case_body(CUSTOMER, subject=HOSTILE_SUBJECT)
        case = story["aggregate_id"]
        with api.agent("maria") as http:
            for body in (
                story,
                hostile,
                command("Acknowledge", case),
                command("Assign", case, agent_id="agent:maria"),
                command("TakeResponsibility", case),
                command("Escalate", case, to_agent_id="agent:lead", reason="needs authority"),
                command("ApplyFix", case, kind="workaround", summary="Corrected the invoice"),
                command("Resolve", case, resolution="Invoice re-issued"),
            ):
                answer = http.post("/v1/commands", json=body)
                assert answer.status_code in (200, 201), answer.text
            view = wait_for(
                lambda: (
                    (r := http.get(f"/v1/cases/{case}")).status_code == 200
                    and r.json()["status"] == "resolved"
                    and http.get(f"/v1/cases/{hostile['aggregate_id']}").status_code == 200
                    and r.json()
                ),
                what="the story case projected",
            )
        yield Console(
            api,
            case,
            view["reference"],
            int(view["version"]),
            hostile["aggregate_id"],
            screenshot_dir(tmp / "screenshots"),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _signed_in(browser: Browser, console: Console, token: str) -> Iterator[tuple[Page, Visits]]:
    with browsing(browser, console.api.base_url) as (_, page, visits):
        sign_in(page, token)
        yield page, visits


@pytest.fixture
def auditor(browser: Browser, console: Console) -> Iterator[tuple[Page, Visits]]:
    yield from _signed_in(browser, console, console.token("auditor:ada", Role.AUDITOR))


@pytest.fixture
def agent(browser: Browser, console: Console) -> Iterator[tuple[Page, Visits]]:
    yield from _signed_in(browser, console, console.token("agent:maria", Role.AGENT))


@pytest.fixture
def lead(browser: Browser, console: Console) -> Iterator[tuple[Page, Visits]]:
    yield from _signed_in(browser, console, console.token("agent:lead", Role.LEAD))


def test_sign_in_find_a_case_and_read_its_story(
    console: Console, auditor: tuple[Page, Visits]
) -> None:
    page, visits = auditor
    check_page(page, visits, "cases", console.shots)
    assert page.locator("#cases tbody tr").count() >= 24  # the demo's cases, newest first
    page.fill("#q", console.story_reference)
    page.click("form[role=search] button")
    page.wait_for_url(re.compile(r".*/console/cases\?q=.*"))
    assert page.locator("#cases tbody tr").count() == 1
    page.click(f"#cases tbody a:has-text('{console.story_reference}')")
    page.wait_for_url(re.compile(rf".*/console/cases/{console.story_id}$"))
    wait_for_charts(page)

    rows = page.locator("#timeline tbody tr")
    assert rows.count() == console.story_events
    first = rows.nth(0).locator("td")
    assert first.nth(2).inner_text() == "CaseOpened"
    assert first.nth(3).inner_text() == "agent:maria"
    assert re.fullmatch(r"\d+ / \d+", first.nth(6).inner_text())  # partition / offset
    assert "Escalated" in rows.nth(4).inner_text()

    # One bar per interval of the trail (assignee, responsible, escalation), drawn as SVG.
    with console.api.client(console.token("auditor:ada", Role.AUDITOR)) as http:
        expected = http.get(f"/v1/cases/{console.story_id}/responsibility").json()["trail"]
    trail = page.locator("#trail tbody tr").count()
    assert trail == len(expected) >= 3
    assert {i["role"] for i in expected} == {"assignee", "responsible", "escalation"}
    bars = page.locator("#responsibility-chart svg .held_marks path")
    assert bars.count() == trail
    roles = [i["role"] for i in expected]
    hand_offs = len(roles) - len(set(roles))  # every interval after a role's first
    assert page.locator("#responsibility-chart svg .handoffs_marks path").count() == hand_offs
    check_page(page, visits, "case", console.shots)

    # Time travel: back to the first event, the case is new and nobody is responsible; at the
    # end it is resolved and agent:maria was responsible.
    _travel(page, 1)
    page.wait_for_function("() => document.getElementById('as-of-status').textContent === 'new'")
    assert page.inner_text("#as-of-responsible") == "—"
    assert page.inner_text("#as-of-event") == "CaseOpened"
    _travel(page, 4)
    page.wait_for_function(
        "() => document.getElementById('as-of-status').textContent === 'assigned'"
    )
    assert page.inner_text("#as-of-responsible") == "agent:maria"
    assert page.inner_text("#as-of-owner") == "agent:maria"
    _travel(page, console.story_events)
    page.wait_for_function(
        "() => document.getElementById('as-of-status').textContent === 'resolved'"
    )
    check_page(page, visits, "case-time-travel", console.shots)

    # The log check, on demand.
    page.click("#verify")
    page.wait_for_function(
        "() => document.getElementById('verify-badge').className.includes('badge-ok')",
        timeout=60_000,
    )
    assert f"{console.story_events} events" in page.inner_text("#verify-badge")
    check_page(page, visits, "case-verified", console.shots)


def test_a_demo_case_with_a_longer_story(console: Console, auditor: tuple[Page, Visits]) -> None:
    page, visits = auditor
    with console.api.agent() as http:
        closed = http.get("/v1/cases", params={"status": "closed", "limit": 50}).json()["items"]
    richest = max(closed, key=lambda c: (int(c["distinct_owners"]), int(c["version"])))
    page.goto(f"/console/cases/{richest['case_id']}")
    wait_for_charts(page)
    assert page.locator("#timeline tbody tr").count() == int(richest["version"])
    intervals = page.locator("#trail tbody tr").count()
    assert intervals >= 1
    assert page.locator("#responsibility-chart svg .held_marks path").count() == intervals
    check_page(page, visits, "case-demo", console.shots)


def _travel(page: Page, version: int) -> None:
    page.eval_on_selector(
        "#travel",
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }",
        version,
    )


def test_the_queue_drops_an_item_when_the_work_is_done_without_a_reload(
    console: Console, agent: tuple[Page, Visits]
) -> None:
    page, visits = agent
    fresh = open_case_body(CUSTOMER, subject="Router keeps rebooting")
    case = fresh["aggregate_id"]
    with console.api.agent("maria") as http:
        assert http.post("/v1/commands", json=fresh).status_code == 201
        reference = wait_for(
            lambda: (
                (r := http.get(f"/v1/cases/{case}")).status_code == 200 and r.json()["reference"]
            ),
            what="the new case projected",
        )
    page.goto("/console/follow-ups")
    page.wait_for_function("() => document.getElementById('queue').dataset.updates")
    check_page(page, visits, "follow-ups", console.shots)
    page.goto("/console/follow-ups?kind=acknowledge")
    row = page.locator("#queue tbody tr", has_text=reference)
    row.wait_for(timeout=15_000)
    page.wait_for_function("() => document.getElementById('queue').dataset.live === 'true'")
    page.evaluate("window.__not_reloaded = true")
    check_page(page, visits, "follow-ups-acknowledge", console.shots)

    with console.api.agent("maria") as http:
        answer = http.post("/v1/commands", json=command("Acknowledge", case))
        assert answer.status_code == 200, answer.text
    row.wait_for(state="detached", timeout=20_000)
    assert page.evaluate("window.__not_reloaded") is True  # the stream did it, not a reload
    for cells in page.locator("#queue tbody tr").all():  # rows the stream drew, as the server's
        late = cells.locator("td").nth(1).inner_text()
        assert re.fullmatch(r"(due in )?(\d+ d \d+ h|\d+ h \d+ min|\d+ min)", late), late


def test_repeat_issues_and_metrics_are_drawn(console: Console, lead: tuple[Page, Visits]) -> None:
    page, visits = lead
    page.goto("/console/repeat-issues")
    wait_for_charts(page)
    for chart, table in (
        ("root-causes", "root-causes"),
        ("known-answers", "known-answers"),
        ("topics", "topics"),
    ):
        rows = page.locator(f"#{table} tbody tr").count()
        assert rows > 0, f"{table}: the demo data has none"
        assert page.get_attribute(f"#{chart}-chart", "data-marks") == str(rows)
        assert page.locator(f"#{chart}-chart svg .ranked_marks path").count() == rows
    check_page(page, visits, "repeat-issues", console.shots)

    page.goto("/console/metrics")
    wait_for_charts(page)
    for chart in ("fcr", "csat", "acknowledge", "resolve"):
        expected = int(page.get_attribute(f"#{chart}-chart", "data-marks") or "0")
        assert expected > 0, f"{chart}: no day with data"
        points = page.locator(f"#{chart}-chart svg .mark-symbol.role-mark path")
        assert points.count() == expected  # a point per day with a value
        assert page.locator(f"#{chart}-chart svg .daily_marks path").count() == 1  # the line
        assert page.locator(f"#{chart}-chart svg .service_level_marks line").count() == 1
    check_page(page, visits, "metrics", console.shots)


def test_a_hostile_subject_is_text_everywhere(
    console: Console, auditor: tuple[Page, Visits]
) -> None:
    page, visits = auditor
    page.goto(f"/console/cases/{console.hostile_id}")
    assert page.inner_text("#case-subject") == HOSTILE_SUBJECT
    assert page.locator("#case-subject *").count() == 0  # no element made of it
    page.goto(f"/console/cases?q={CUSTOMER}")
    assert page.locator("#cases", has_text="<script>").count() == 1
    assert page.evaluate("window.__pwned") is None
    check_page(page, visits, "cases-hostile", console.shots)


def test_every_console_response_carries_the_csp(
    console: Console, auditor: tuple[Page, Visits]
) -> None:
    page, _ = auditor
    for path in ("/console/cases", f"/console/cases/{console.story_id}", "/console/follow-ups"):
        response = page.request.get(path)
        assert response.status == 200
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    signed_out = httpx.get(f"{console.api.base_url}/console/sign-in")
    assert "content-security-policy" in signed_out.headers


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    console: Console, auditor: tuple[Page, Visits]
) -> None:
    page, _ = auditor
    refused = page.request.post("/console/sign-out", form={"csrf_token": "forged"})
    assert refused.status == 403
    missing = page.request.post("/console/sign-out", form={})
    assert missing.status == 403
    verify = page.request.post(
        f"/console/cases/{console.story_id}/verify", headers={"Accept": "application/json"}
    )
    assert verify.status == 403
    assert verify.json()["error"]["code"] == "csrf"
    assert page.request.get("/console/cases").status == 200  # still signed in


def test_the_sign_in_form_needs_its_csrf_token(console: Console, browser: Browser) -> None:
    token = console.token("agent:maria", Role.AGENT)
    with browsing(browser, console.api.base_url) as (context, page, _):
        page.goto("/console/sign-in")
        answer = page.request.post("/console/sign-in", form={"token": token})
        assert answer.status == 403
        assert not any("supportes_console" in c["name"] for c in context.cookies())


def test_a_customer_cannot_sign_in(console: Console, browser: Browser) -> None:
    token = console.token(CUSTOMER, Role.CUSTOMER, customer_id=CUSTOMER)
    with browsing(browser, console.api.base_url) as (context, page, visits):
        page.goto("/console/sign-in")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("#sign-in-error")
        assert "the console is for agents, leads, auditors and admins" in page.inner_text(
            "#sign-in-error"
        )
        assert not any(c["name"].endswith("supportes_console") for c in context.cookies())
        assert page.request.get("/console/cases", max_redirects=0, headers=HTML).status == 303
        visits.console_errors.clear()  # the 403 of the form post itself is logged by chromium
        check_page(page, visits, "sign-in-refused", console.shots)


def test_a_bad_token_is_refused_with_the_reason(console: Console, browser: Browser) -> None:
    with browsing(browser, console.api.base_url) as (_, page, visits):
        page.goto("/console/sign-in")
        check_page(page, visits, "sign-in", console.shots)
        page.fill("#token", "spt_0123456789abcdef_" + "A" * 43)
        page.click("button[type=submit]")
        page.wait_for_selector("#sign-in-error")
        assert "token not accepted: unknown token" in page.inner_text("#sign-in-error")


def test_signing_out_ends_the_session(console: Console, browser: Browser) -> None:
    token = console.token("agent:maria", Role.AGENT)
    with browsing(browser, console.api.base_url) as (context, page, _):
        sign_in(page, token)
        (cookie,) = [c for c in context.cookies() if c["name"].endswith("supportes_console")]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        assert cookie["secure"]
        page.click(".sign-out button")
        page.wait_for_url(re.compile(r".*/console/sign-in$"))
        assert page.request.get("/console/cases", max_redirects=0, headers=HTML).status == 303
    # The old cookie, replayed, signs nobody in: the session is gone on the server.
    replay = httpx.get(
        f"{console.api.base_url}/console/cases",
        cookies={cookie["name"]: cookie["value"]},
        headers={"Accept": "application/json"},
    )
    assert replay.status_code == 401


def test_what_a_role_may_not_see_is_refused(console: Console, agent: tuple[Page, Visits]) -> None:
    page, visits = agent
    # An agent has no time travel or log check (auditors and admins): not shown, and refused.
    page.goto(f"/console/cases/{console.story_id}")
    assert page.locator("#travel").count() == 0
    assert page.locator("#verify").count() == 0
    as_of = page.request.get(
        f"/console/cases/{console.story_id}/as-of?at=2026-01-01T00:00:00Z",
        headers={"Accept": "application/json"},
    )
    assert as_of.status == 403
    assert page.request.get("/console/metrics").status == 403  # leads, auditors, admins
    unknown = page.request.get("/console/cases/SR-0000-0000-0000")
    assert unknown.status == 404
    shown = page.goto("/console/cases/SR-0000-0000-0000")  # a navigation: an HTML page
    assert shown is not None
    assert shown.status == 404
    assert "case SR-0000-0000-0000 not found" in page.inner_text("[role=alert]")
    visits.console_errors.clear()  # chromium logs the 404 of the navigation itself
    check_page(page, visits, "not-found", console.shots)
    anonymous = httpx.get(
        f"{console.api.base_url}/console/cases/{console.story_id}",
        headers={"Accept": "application/json"},
    )
    assert anonymous.status_code == 401


def test_bad_input_is_refused_naming_the_field(console: Console, lead: tuple[Page, Visits]) -> None:
    page, _ = lead
    json_only = {"Accept": "application/json"}
    for path, field in (
        ("/console/cases?q=a%00b", "q"),  # text PostgreSQL cannot store
        ("/console/follow-ups?kind=nonsense", "kind"),
        ("/console/metrics?from=2026-12-02&to=2026-12-01", "to"),
        ("/console/metrics?from=yesterday", "from"),
        (f"/console/cases/{console.story_id}/as-of?at=not-a-time", "at"),
    ):
        answer = page.request.get(path, headers=json_only)
        assert answer.status == 422, (path, answer.text())
        assert field in answer.json()["error"]["message"], (path, answer.text())
    long_token = page.request.post(
        "/console/sign-out", form={"csrf_token": "x" * 200}, headers=json_only
    )
    assert long_token.status == 403
    assert page.request.get("/console/cases").status == 200  # nothing changed
