"""``console-pages``: what the web console's pages cost on this machine (issue 19's speed
must-show: the case page of a 200-event case loads in the browser in under 1 s).

A scratch corner (topics, database) with a real ``supportes serve`` (writer, projector and API
with the console) on a free loopback port, the ``supportes demo`` data set, and one case taken
through :data:`CASE_EVENTS` events over HTTP. Then, signed in once as an auditor (who sees every
section of the case page and every report), sequential GETs of each page in turn: the
``Server-Timing: app;dur`` the console reports (the server's time to the response's start) and
the round trip the client measured, with the bare ceiling of the same run beside them: the API's
``GET /v1/cases/{id}/history`` of the same case (the same events as JSON, no page). Last, Debian's
chromium signs in through the form and loads the case page again and again: the navigation
timing (response end, DOMContentLoaded, load event) and the time until every chart is drawn.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from supportes.bench.api_corner import (
    child_env,
    free_port,
    issued_token,
    last_line,
    stop_process,
    timed_us,
)
from supportes.bench.results import Result
from supportes.bench.scratch import scratch_database, scratch_topics
from supportes.bench.stats import percentile
from supportes.bench.wrk import LOOPBACK
from supportes.db.connect import connect
from supportes.db.migrate import migrate_database
from supportes.logs import get_logger
from supportes.settings import Settings

log = get_logger("bench")

CASE_EVENTS = 200
DEMO_CASES = 200
"""The demo's own default (``supportes demo``, ``make run``)."""
WARM_UP = 5
STARTUP_TIMEOUT_S = 90.0
PROJECTED_TIMEOUT_S = 60.0
LOAD_TARGET_MS = 1000.0
"""Issue 19: the case page of a 200-event case reaches its load event in under 1 s."""
CUSTOMER = "customer:c-bench-0200"
AGENTS = ("agent:bench-ana", "agent:bench-ben", "agent:bench-cho")
AUDITOR = "auditor:bench-console"
ROUND_SUMMARY = "Customer calls again"
"""A personal field of the long case (sealed in the log): the page shows it only opened."""
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
SIGN_IN_COOKIE = "supportes_sign_in"
SESSION_COOKIE = "supportes_console"
"""The console's cookie names (``__Host-`` prefixed when Secure, the default)."""

# --- pure parts ------------------------------------------------------------------------------


def server_timing_ms(header: str | None, metric: str = "app") -> float | None:
    """The ``dur`` of ``metric`` in a ``Server-Timing`` header (``app;dur=12.3, db;dur=4``),
    in ms; None when the header or the metric or its duration is absent or not a number."""
    if not header:
        return None
    for entry in header.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        if name != metric:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "dur":
                try:
                    return float(value.strip().strip('"'))
                except ValueError:
                    return None
        return None
    return None


def cookie_value(set_cookies: Sequence[str], name: str) -> tuple[str, str] | None:
    """``(full name, value)`` of the cookie called ``name`` or ``__Host-<name>`` among
    ``Set-Cookie`` header values; None when none sets it (or one only clears it)."""
    for header in set_cookies:
        pair = header.split(";", 1)[0]
        key, sep, value = pair.partition("=")
        key = key.strip()
        if sep and key in (name, f"__Host-{name}") and value.strip().strip('"'):
            return key, value.strip().strip('"')
    return None


@dataclass(frozen=True)
class Summary:
    """Median, 95th percentile and largest of a series of figures."""

    p50: float
    p95: float
    max: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """The summary of ``values`` (ValueError when empty)."""
        return cls(percentile(values, 50), percentile(values, 95), max(values), len(values))


@dataclass(frozen=True)
class Step:
    """One command of the long case: who sends it (an agent), its type and payload."""

    agent: str
    type: str
    payload: dict[str, Any]


def case_steps(agents: Sequence[str] = AGENTS) -> Iterator[Step]:
    """The commands of the long case, without end: the case is opened and acknowledged, then
    every round a customer calls, an agent is assigned and takes responsibility, updates and
    calls back the customer, escalates to the next agent (a hand-off), who applies a fix,
    resolves, and reopens it when the customer comes back. Every command writes one event."""
    if not agents:
        raise ValueError("at least one agent")
    first = agents[0]
    yield Step(
        first,
        "OpenCase",
        {
            "customer_id": CUSTOMER,
            "channel": "phone",
            "subject": "Invoices keep showing the wrong VAT rate",
            "description": "Every invoice since the plan change charges the old rate.",
        },
    )
    yield Step(first, "Acknowledge", {"channel": "email"})
    round_ = 0
    while True:
        round_ += 1
        holder = agents[round_ % len(agents)]
        nxt = agents[(round_ + 1) % len(agents)]
        yield from (
            Step(
                holder,
                "RecordContact",
                {
                    "direction": "inbound",
                    "channel": "phone",
                    "summary": f"{ROUND_SUMMARY} (round {round_})",
                },
            ),
            Step(holder, "Assign", {"agent_id": holder, "reason": "next in the rota"}),
            Step(holder, "TakeResponsibility", {"note": f"round {round_}"}),
            Step(
                holder,
                "UpdateCustomer",
                {"channel": "email", "message": "We are looking into the rate again."},
            ),
            Step(
                holder,
                "RecordContact",
                {"direction": "outbound", "channel": "phone", "summary": "Called back"},
            ),
            Step(holder, "Escalate", {"to_agent_id": nxt, "reason": "billing rules"}),
            Step(nxt, "ApplyFix", {"kind": "workaround", "summary": "Corrected the invoice"}),
            Step(nxt, "Resolve", {"resolution": "Invoice re-issued at the right rate"}),
            Step(nxt, "Reopen", {"reason": "The next invoice is wrong again"}),
        )


def closing_step(agent: str) -> Step:
    """A one-event command on any open or resolved case: what fills the last versions."""
    return Step(
        agent,
        "RecordContact",
        {"direction": "inbound", "channel": "chat", "summary": "Customer asks for news"},
    )


def verdict(loads_ms: Sequence[float], target_ms: float = LOAD_TARGET_MS) -> str:
    """``met`` when every load event came before ``target_ms``, else ``NOT met`` and how many
    did not."""
    if not loads_ms:
        return "not measured"
    late = sum(1 for ms in loads_ms if ms >= target_ms)
    if late == 0:
        return f"met: all {len(loads_ms)} loads under {target_ms:,.0f} ms"
    return f"NOT met: {late} of {len(loads_ms)} loads at or over {target_ms:,.0f} ms"


# --- the corner: a real `supportes serve` ------------------------------------------------------


@dataclass
class ConsoleCorner:
    """A scratch corner with ``supportes serve`` (writer, projector, API and console)."""

    settings: Settings
    dsn: str
    env: dict[str, str]
    base_url: str
    serve_log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, principal_id: str, roles: Sequence[str]) -> str:
        """An API token for ``principal_id`` (created once, committed)."""
        return issued_token(self.dsn, self.tokens, principal_id, roles)


@contextlib.contextmanager
def console_corner(settings: Settings) -> Iterator[ConsoleCorner]:
    """Scratch topics and database and ``supportes serve`` (every role) with its API on a free
    loopback port; stopped and removed afterwards."""
    with (
        scratch_topics(settings) as scratch_kafka,
        scratch_database(settings) as dsn,
        tempfile.TemporaryDirectory(prefix="supportes-console-bench-") as temp,
    ):
        scratch = scratch_kafka.model_copy(update={"pg_dsn": dsn})
        migrate_database(dsn)
        directory = Path(temp)
        port = free_port()
        env = {**child_env(scratch, dsn, directory), "SUPPORTES_API_LISTEN": f"{LOOPBACK}:{port}"}
        logs = Path(os.environ.get("TMPDIR", "/tmp"))
        serve_log = logs / f"{scratch.topic_prefix}-serve.log"
        ready = directory / "serve.ready"
        command = [
            str(Path(sys.executable).parent / "supportes"),
            "serve",
            "--group-id",
            f"{scratch.topic_prefix}-writer",
            "--ready-file",
            str(ready),
        ]
        with serve_log.open("ab") as out:
            serve = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not ready.exists():
                if serve.poll() is not None:
                    raise RuntimeError(
                        f"supportes serve exited ({serve.returncode}): {last_line(serve_log)}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(f"supportes serve not ready within {STARTUP_TIMEOUT_S:g}s")
                time.sleep(0.1)
            yield ConsoleCorner(scratch, dsn, env, f"http://{LOOPBACK}:{port}", serve_log)
        finally:
            stop_process(serve)


# --- data ------------------------------------------------------------------------------------


def load_demo(corner: ConsoleCorner, cases: int) -> None:
    """``supportes demo --cases N`` against the corner (waits for the projections)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "supportes"), "demo", "--cases", str(cases), "--json"],
        env=corner.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"supportes demo exited {done.returncode}: {lines[-1] if lines else ''}")


def long_case(corner: ConsoleCorner, events: int) -> tuple[str, list[str]]:
    """Open one case and take it to version ``events`` through ``POST /v1/commands``; its id and
    the ``occurred_at`` of each event once the API's history shows them all."""
    clients = {
        agent: httpx.Client(
            base_url=corner.base_url,
            headers={"Authorization": f"Bearer {corner.token(agent, ['agent'])}"},
            timeout=30,
        )
        for agent in AGENTS
    }
    try:
        steps = case_steps(AGENTS)
        case_id = str(uuid.uuid4())
        version = 0
        while version < events:
            step = next(steps) if events - version > 2 else closing_step(AGENTS[0])
            body = {"type": step.type, "aggregate_id": case_id, "payload": step.payload}
            answer = clients[step.agent].post("/v1/commands", json=body)
            document = answer.json()
            if answer.status_code not in (200, 201):
                code = document.get("error", {}).get("code") if isinstance(document, dict) else ""
                raise RuntimeError(
                    f"{step.type} at v{version} answered {answer.status_code} {code}"
                )
            version = int(document["version"])
    finally:
        for client in clients.values():
            client.close()
    if version != events:
        raise RuntimeError(f"the long case reached v{version}, not v{events}")
    auditor = corner.token(AUDITOR, ["auditor"])
    with httpx.Client(
        base_url=corner.base_url, headers={"Authorization": f"Bearer {auditor}"}, timeout=30
    ) as client:
        deadline = time.monotonic() + PROJECTED_TIMEOUT_S
        while time.monotonic() < deadline:
            view = client.get(f"/v1/cases/{case_id}")
            history = client.get(f"/v1/cases/{case_id}/history")
            if (
                view.status_code == 200
                and view.headers.get("ETag") == f'"{events}"'
                and history.status_code == 200
                and len(history.json()["events"]) == events
            ):
                return case_id, [str(e["occurred_at"]) for e in history.json()["events"]]
            time.sleep(0.2)
    raise TimeoutError(f"the long case was not projected at v{events} in {PROJECTED_TIMEOUT_S:g}s")


# --- server time and round trip ----------------------------------------------------------------


def console_cookie(client: httpx.Client, token: str) -> str:
    """Sign in through the form's two requests; the ``Cookie`` header of the session."""
    form = client.get("/console/sign-in", headers=HTML)
    csrf = cookie_value(form.headers.get_list("set-cookie"), SIGN_IN_COOKIE)
    if form.status_code != 200 or csrf is None:
        raise RuntimeError(f"GET /console/sign-in answered {form.status_code} without its cookie")
    answer = client.post(
        "/console/sign-in",
        data={"token": token, "csrf_token": csrf[1]},
        headers={**HTML, "Cookie": f"{csrf[0]}={csrf[1]}"},
    )
    session = cookie_value(answer.headers.get_list("set-cookie"), SESSION_COOKIE)
    if answer.status_code != 303 or session is None:
        raise RuntimeError(f"POST /console/sign-in answered {answer.status_code}, no session")
    return f"{session[0]}={session[1]}"


@dataclass(frozen=True)
class Target:
    """One URL measured: a console page (or call) with the session, or an API call."""

    name: str
    path: str
    headers: Mapping[str, str]
    console: bool = True


@dataclass
class Samples:
    """What the requests to one target gave."""

    server_ms: list[float] = field(default_factory=list)
    round_trip_ms: list[float] = field(default_factory=list)
    bytes: int = 0


def measure(
    client: httpx.Client, targets: Sequence[Target], warm_up: int, requests: int
) -> dict[str, Samples]:
    """``warm_up`` then ``requests`` sequential GETs of every target, the targets in turn (so
    a slow moment of the machine falls on all of them alike); the round trip includes reading
    the whole body."""
    samples = {t.name: Samples() for t in targets}
    for number in range(warm_up + requests):
        for target in targets:
            began = time.perf_counter()
            answer = client.get(target.path, headers=dict(target.headers))
            spent_ms = (time.perf_counter() - began) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"GET {target.name} answered {answer.status_code}")
            if number < warm_up:
                continue
            taken = samples[target.name]
            taken.round_trip_ms.append(spent_ms)
            taken.bytes = len(answer.content)
            if target.console:
                server = server_timing_ms(answer.headers.get("server-timing"))
                if server is None:
                    raise RuntimeError(f"GET {target.name}: no Server-Timing app;dur")
                taken.server_ms.append(server)
    return samples


# --- where the case page's server time goes ----------------------------------------------------

PART_CALLS = 30


def case_page_parts(settings: Settings, dsn: str, case_id: str) -> dict[str, float]:
    """Median ms of each part of the case page's work, the console's own functions timed here
    one after the other (no other request in flight): the case row, the history (every event
    from the index, personal fields opened), the responsibility trail, the chart spec and the
    template's rendering."""
    from supportes.auth.policy import Action, allows
    from supportes.auth.principal import Principal, Role
    from supportes.console.charts import responsibility_chart
    from supportes.console.sessions import ConsoleSession
    from supportes.console.web import PREFIX, STATIC, chart_json, templates
    from supportes.ops.case_history import load_history
    from supportes.ops.case_lookup import case_row
    from supportes.ops.responsibility_audit import load_trail
    from supportes.privacy.opener import EventOpener
    from supportes.privacy.wiring import command_sealer

    aggregate = uuid.UUID(case_id)
    principal = Principal(AUDITOR, frozenset({Role.AUDITOR}))
    now = datetime.now(UTC)
    session = ConsoleSession(principal, "c" * 43, now + timedelta(hours=1))
    template = templates.env.get_template("case.html")
    sealer = command_sealer(settings)
    conn = connect(dsn)
    try:
        opener = EventOpener(sealer.keys)
        row = case_row(conn, aggregate)
        history = load_history(conn, aggregate, opener)
        trail = load_trail(conn, aggregate)
        chart = chart_json(responsibility_chart(trail, now))
        values = {
            "session": session,
            "principal": principal,
            "may": {a.value: allows(principal, a) for a in Action},
            "static": STATIC,
            "prefix": PREFIX,
            "case_id": aggregate,
            "case": row,
            "history": history,
            "trail": trail,
            "chart": chart,
            "instants": [entry.occurred_at.isoformat() for entry in history],
        }
        if ROUND_SUMMARY not in template.render(values):
            raise RuntimeError("the case page rendered here lacks the contacts' opened summaries")
        parts = {
            "case row": lambda: case_row(conn, aggregate),
            "history": lambda: load_history(conn, aggregate, opener),
            "trail": lambda: load_trail(conn, aggregate),
            "chart": lambda: chart_json(responsibility_chart(trail, now)),
            "render": lambda: template.render(values),
        }
        return {name: timed_us(call, PART_CALLS) / 1000 for name, call in parts.items()}
    finally:
        conn.close()
        sealer.close()


# --- the browser -------------------------------------------------------------------------------

CHARTS_DRAWN_AT = """
(() => {
  const mark = () => {
    if (window.__chartsDrawnAt !== undefined) return;
    const charts = [...document.querySelectorAll('[data-chart]')];
    if (charts.length > 0 && charts.every((e) => e.dataset.drawn === 'true')) {
      window.__chartsDrawnAt = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, {
    subtree: true, attributes: true, attributeFilter: ['data-drawn'],
  });
})();
"""
"""Init script: the moment (ms since navigation start) the last chart got ``data-drawn``."""

SETTLED = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const failed = [...document.querySelectorAll('[data-chart]')]
    .some((e) => e.dataset.drawn === 'failed');
  return Boolean(nav && nav.loadEventEnd > 0 && (window.__chartsDrawnAt !== undefined || failed));
}
"""

FIGURES = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const app = nav.serverTiming.find((t) => t.name === 'app');
  return {
    response_start: nav.responseStart,
    response_end: nav.responseEnd,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    charts: window.__chartsDrawnAt === undefined ? null : window.__chartsDrawnAt,
    chart_count: document.querySelectorAll('[data-chart]').length,
    rows: document.querySelectorAll('#timeline tbody tr').length,
    transferred: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    server: app ? app.duration : null,
  };
}
"""


@dataclass
class Loads:
    """Navigation timings of the case page, one entry per load, in ms from navigation start."""

    response_end: list[float] = field(default_factory=list)
    dom_content_loaded: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    charts: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    transferred: list[float] = field(default_factory=list)
    chart_count: int = 0

    def add(self, figures: Mapping[str, Any]) -> None:
        """One load's figures (from :data:`FIGURES`)."""
        self.response_end.append(float(figures["response_end"]))
        self.dom_content_loaded.append(float(figures["dom_content_loaded"]))
        self.load.append(float(figures["load"]))
        self.charts.append(float(figures["charts"]))
        if figures["server"] is not None:
            self.server.append(float(figures["server"]))
        self.transferred.append(float(figures["transferred"]))
        self.chart_count = int(figures["chart_count"])


def browser_loads(
    base_url: str, token: str, case_path: str, *, events: int, warm: int, cold: int
) -> tuple[Loads, Loads, str]:
    """Sign in through the form in chromium, load the case page once to warm up, then ``warm``
    fresh navigations with the browser's cache as a user's, and ``cold`` with its cache
    cleared first (DevTools protocol). Their timings, and the chromium version."""
    import re

    from supportes.bench.chromium import chromium, chromium_version

    warm_loads, cold_loads = Loads(), Loads()
    with chromium() as browser:
        version = chromium_version(browser)
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        try:
            context.add_init_script(CHARTS_DRAWN_AT)
            page = context.new_page()
            page.goto("/console/sign-in")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r".*/console/cases$"))
            cdp = context.new_cdp_session(page)
            plan = [(None, 1), (warm_loads, warm), (cold_loads, cold)]
            for into, count in plan:
                for _ in range(count):
                    if into is cold_loads:
                        cdp.send("Network.clearBrowserCache")
                    page.goto(case_path, wait_until="load")
                    page.wait_for_function(SETTLED, timeout=30_000)
                    figures: dict[str, Any] = page.evaluate(FIGURES)
                    if figures["charts"] is None:
                        raise RuntimeError("a chart of the case page was not drawn")
                    if figures["rows"] != events:
                        raise RuntimeError(f"the case page shows {figures['rows']} events")
                    if into is not None:
                        into.add(figures)
        finally:
            context.close()
    return warm_loads, cold_loads, version


# --- the benchmark ---------------------------------------------------------------------------


def console_pages(
    settings: Settings, requests: int, loads: int, cold_loads: int = 3, demo_cases: int = DEMO_CASES
) -> Result:
    """Server time and round trip of every console page, and the case page in chromium."""
    result = Result(
        "console-pages",
        params={
            "case_events": CASE_EVENTS,
            "demo_cases": demo_cases,
            "warm_up": WARM_UP,
            "requests": requests,
            "browser_loads": loads,
            "cold_loads": cold_loads,
        },
    )
    with console_corner(settings) as corner:
        began = time.monotonic()
        load_demo(corner, demo_cases)
        demo_s = time.monotonic() - began
        began = time.monotonic()
        case_id, instants = long_case(corner, CASE_EVENTS)
        case_s = time.monotonic() - began
        log.info("console bench data loaded", demo_s=round(demo_s, 1), case_s=round(case_s, 1))
        auditor = corner.token(AUDITOR, ["auditor"])
        middle = instants[len(instants) // 2]
        case_path = f"/console/cases/{case_id}"
        with httpx.Client(base_url=corner.base_url, timeout=30) as client:
            page = {**HTML, "Cookie": console_cookie(client, auditor)}
            targets = [
                Target("cases list", "/console/cases", page),
                Target("case page", case_path, page),
                Target("follow-ups", "/console/follow-ups", page),
                Target("repeat issues", "/console/repeat-issues", page),
                Target("metrics", "/console/metrics", page),
                Target(
                    "as-of JSON",
                    str(httpx.URL(f"{case_path}/as-of", params={"at": middle})),
                    {**page, **JSON},
                ),
                Target(
                    "history JSON",
                    f"/v1/cases/{case_id}/history",
                    {**JSON, "Authorization": f"Bearer {auditor}"},
                    console=False,
                ),
            ]
            samples = measure(client, targets, WARM_UP, requests)
        parts = case_page_parts(corner.settings, corner.dsn, case_id)
        warm, cold, chromium = browser_loads(
            corner.base_url, auditor, case_path, events=CASE_EVENTS, warm=loads, cold=cold_loads
        )
    _report(
        result,
        samples=samples,
        parts=parts,
        warm=warm,
        cold=cold,
        chromium=chromium,
        requests=requests,
    )
    return result


def _report(
    result: Result,
    *,
    samples: Mapping[str, Samples],
    parts: Mapping[str, float],
    warm: Loads,
    cold: Loads,
    chromium: str,
    requests: int,
) -> None:
    how = f"{requests} sequential GETs after {WARM_UP}, pages in turn, auditor session"
    first = True
    for name, taken in samples.items():
        trip = Summary.of(taken.round_trip_ms)
        if taken.server_ms:
            server = Summary.of(taken.server_ms)
            notes = f"p95 {server.p95:.1f} ms; Server-Timing app;dur"
            if first:
                notes += f" (time to the response's start); {how}"
                first = False
            result.add(f"{name}: server", server.p50, "ms", notes)
        result.add(
            f"{name}: round trip",
            trip.p50,
            "ms",
            f"p95 {trip.p95:.1f} ms; {taken.bytes:,} B body, read whole",
        )
    page = Summary.of(samples["case page"].round_trip_ms)
    bare = Summary.of(samples["history JSON"].round_trip_ms)
    result.add(
        "case page / history JSON",
        page.p50 / bare.p50,
        "x",
        f"round trip p50 {page.p50:.1f} / {bare.p50:.1f} ms: the bare ceiling is the API's "
        f"GET /v1/cases/{{id}}/history of the same {CASE_EVENTS} events, same run",
    )
    server = Summary.of(samples["case page"].server_ms)
    known = sum(parts.values())
    result.add(
        "where: history",
        parts["history"],
        "ms",
        f"every event from the index, personal fields opened; of {known:.1f} ms timed in parts"
        f" (median of {PART_CALLS} calls each, one at a time, in the benchmark's process)",
    )
    result.add("where: render", parts["render"], "ms", "Jinja2 case.html with the 200 rows")
    result.add(
        "where: the rest",
        parts["case row"] + parts["trail"] + parts["chart"],
        "ms",
        f"case row {parts['case row']:.2f}, trail {parts['trail']:.2f}, chart spec "
        f"{parts['chart']:.2f} ms; the page's server p50 {server.p50:.1f} ms also holds the "
        "session lookup, the thread hop and the response",
    )
    _report_loads(result, "browser", warm, chromium, "fresh navigations, cache as a user's")
    _report_loads(result, "browser cold", cold, chromium, "cache cleared before each")
    every = warm.load + cold.load
    result.add(
        "target load < 1 s",
        max(every),
        "ms",
        f"{verdict(every)} (the largest load event of the {len(every)} measured loads)",
    )


def _report_loads(result: Result, label: str, loads: Loads, chromium: str, how: str) -> None:
    if not loads.load:
        return
    load = Summary.of(loads.load)
    charts = Summary.of(loads.charts)
    dcl = Summary.of(loads.dom_content_loaded)
    end = Summary.of(loads.response_end)
    server = (
        f"; Server-Timing in the browser p50 {percentile(loads.server, 50):.1f} ms"
        if (loads.server)
        else ""
    )
    result.add(
        f"{label}: load event",
        load.p50,
        "ms",
        f"max {load.max:.0f} ms; case page of {CASE_EVENTS} events, {load.count} loads, "
        f"{how}; {chromium} headless",
    )
    result.add(
        f"{label}: charts drawn",
        charts.p50,
        "ms",
        f"max {charts.max:.0f} ms; until all {loads.chart_count} [data-chart] have data-drawn",
    )
    result.add(
        f"{label}: DOMContentLoaded",
        dcl.p50,
        "ms",
        f"max {dcl.max:.0f} ms; response end p50 {end.p50:.1f} ms{server}; "
        f"{percentile(loads.transferred, 50):,.0f} B transferred p50",
    )
