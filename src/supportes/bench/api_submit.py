"""``api-submit-latency``: after the writer benchmark's warm-up, commands at a steady rate
through ``POST /v1/commands`` (several keep-alive HTTP connections, open loop, from a process of
its own: :mod:`supportes.bench.http_load_process`) and through the
Kafka client (:class:`~supportes.client.SupportesClient`, timed from send to the result read,
as ``writer-latency``), in alternating windows of the same run so that a slow moment of this
shared machine falls on both paths alike."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from supportes.bench.api_corner import Corner, api_corner, last_line, timed_us
from supportes.bench.http_load import HttpRequest, Sample, post_request
from supportes.bench.http_load_process import HttpLoadProcess
from supportes.bench.machine import process_cpu_s
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.stats import percentile
from supportes.bench.submit_phases import PHASES, Timed, phases, record_times, summary
from supportes.bench.writer_bench import (
    LATENCY_WINDOWS,
    WARM_UP_COMMANDS,
    ReaderGate,
    _collect_results,
    _warm_up,
)
from supportes.client import SupportesClient
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

HTTP_CONNECTIONS = 128
"""Keep-alive connections of the HTTP submitter (open loop: a command waits for a free one),
as many agents' tools and integrations would hold. At 500/s a connection is busy for each
answer's latency, so N connections carry at most N / latency: 32 or 64 ran out whenever
answers slowed past 64 or 128 ms for a moment, and the queue in the client then fed itself
(a window's p50 in seconds with the writer at p99 ~80 ms)."""
HTTP_TIMEOUT_S = 30.0
"""Deadline of one HTTP command (pool wait, send, answer): a command not answered by then
counts as failed (status 0)."""
MAX_BACKLOG_S = 2.0
"""An HTTP command is skipped (counted) while this many seconds' worth are unanswered: an API
that cannot keep up is reported as such, and the run stays bounded."""
HTTP_WARM_UP_COMMANDS = 1000
INTEGRATION = "integration:bench"


@dataclass(frozen=True)
class HttpCommand:
    """A command as an HTTP client sends it: the caller's token and the request body."""

    principal: str
    body: bytes
    if_match: str | None


def http_command(envelope: dict[str, Any]) -> HttpCommand:
    """The request for a simulated envelope: an agent's command by that agent; a customer's by
    the channel integration ``on_behalf_of`` it (the API attests actor and time itself)."""
    actor = envelope["actor"]
    body: dict[str, Any] = {
        "type": envelope["type"],
        "aggregate_id": str(envelope["aggregate_id"]),
        "payload": envelope["payload"],
    }
    principal = str(actor["id"])
    if actor["kind"] == "customer":
        body["on_behalf_of"] = principal
        principal = INTEGRATION
    expected = envelope.get("expected_version")
    return HttpCommand(
        principal, orjson.dumps(body), f'"{expected}"' if expected is not None else None
    )


def principal_roles(principal: str) -> list[str]:
    """The roles a simulated principal's token gets: the simulation has any agent write the
    root-cause commands too, so every agent is also a lead."""
    if principal == INTEGRATION:
        return ["integration"]
    return ["agent", "lead"]


def wire_requests(
    commands: Sequence[HttpCommand], host: str, tokens: dict[str, str]
) -> list[HttpRequest]:
    """The prepared ``POST /v1/commands`` of each command, with its principal's token."""
    requests = []
    for command in commands:
        headers = {"Authorization": f"Bearer {tokens[command.principal]}"}
        if command.if_match is not None:
            headers["If-Match"] = command.if_match
        requests.append(post_request(host, "/v1/commands", command.body, headers))
    return requests


def _submit_costs(corner: Corner, token: str, command: HttpCommand) -> dict[str, float]:
    """Microseconds of the submit route's own work, timed here on an idle machine: the token
    check and the attestation (policy, parse and validation of the command)."""
    from supportes.auth import Authenticator
    from supportes.ops.submission import CommandRequest, attest, command_id_for

    authenticator = Authenticator(corner.settings)
    try:
        caller = authenticator.authenticate(f"Bearer {token}")
        auth = timed_us(lambda: authenticator.authenticate(f"Bearer {token}"))
    finally:
        authenticator.close()
    body = orjson.loads(command.body)
    wanted = CommandRequest(
        type=body["type"],
        aggregate_id=UUID(body["aggregate_id"]),
        payload=body["payload"],
        on_behalf_of=body.get("on_behalf_of"),
    )

    def attest_once() -> object:
        return attest(
            caller, wanted, command_id=command_id_for(caller, None), now=datetime.now(UTC)
        )

    return {"auth": auth, "attest": timed_us(attest_once)}


def _paced_client(
    client: SupportesClient,
    envelopes: Sequence[dict[str, Any]],
    rate_per_s: float,
    sent_at: dict[str, float],
    progress: Progress,
) -> None:
    """Send ``envelopes`` through the Kafka client at a steady rate, each timed from its
    scheduled send as the HTTP path is (a stall of this process counts on both paths alike;
    ``writer-latency`` times from the send itself); the results reader records the answers."""
    interval = 1.0 / rate_per_s
    began = time.monotonic()
    for number, envelope in enumerate(envelopes):
        due = began + number * interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent_at[envelope["command_id"]] = due  # from the schedule, as the HTTP path
        client.send([envelope], flush=False)
        progress.advance(1)


def _warm_http(
    load: HttpLoadProcess, commands: Sequence[HttpRequest], rate_per_s: float, corner: Corner
) -> None:
    """Send the HTTP warm-up (connections opened, pools filled); RuntimeError when the API
    accepted none of it."""
    samples = load.paced(commands, rate_per_s)
    if not any(s.status in (200, 201) for s in samples):
        statuses = sorted({s.status for s in samples})
        raise RuntimeError(
            f"no command accepted through HTTP (statuses {statuses}): {last_line(corner.api_log)}"
        )


def segments(windows: int) -> list[tuple[str, int]]:
    """The alternating schedule: (path, window index), ``windows`` windows per path."""
    return [(path, index) for index in range(windows) for path in ("client", "http")]


@dataclass
class Run:
    """What one run of the benchmark measured."""

    rate_per_s: int
    per_window: int
    windows: int
    sent_at: dict[str, float] = field(default_factory=dict)
    """Client path: command id -> monotonic send time."""
    answered: list[tuple[float, float]] = field(default_factory=list)
    """Client path: (sent, latency) of each result read."""
    answered_ids: list[str] = field(default_factory=list)
    http_samples: dict[int, list[Sample]] = field(default_factory=dict)
    client_windows: dict[int, tuple[float, float]] = field(default_factory=dict)
    offered: dict[str, float] = field(default_factory=lambda: {"client": 0.0, "http": 0.0})
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    """Add to a monotonic time for the wall clock (record timestamps are wall clock)."""
    warm_up_s: float = 0.0
    costs: dict[str, float] = field(default_factory=dict)
    phases: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    """Per path, p50/p99 (ms) of each phase of :mod:`supportes.bench.submit_phases`."""
    cpu_s: dict[tuple[str, str], float] = field(default_factory=dict)
    """(path, process) -> CPU seconds each process (see :func:`_cpu`) used in that path's
    windows."""

    @property
    def total(self) -> int:
        return self.per_window * self.windows


def api_submit_latency(settings: Settings, rate_per_s: int, duration_s: float) -> Result:
    """Submit -> result at ``rate_per_s`` for ``duration_s`` per path, HTTP and Kafka client in
    alternating windows of one run against one writer process."""
    windows = LATENCY_WINDOWS
    window_s = duration_s / windows
    run = Run(rate_per_s, int(rate_per_s * window_s), windows)
    result = Result(
        "api-submit-latency",
        params={
            "rate_per_s": rate_per_s,
            "duration_s": duration_s,
            "windows": windows,
            "http_connections": HTTP_CONNECTIONS,
        },
    )
    client_envelopes = list(TrafficGenerator(seed=7).commands(run.total))
    http_generator = TrafficGenerator(seed=11, start=datetime.now(UTC))
    warm_http = [http_command(e) for e in http_generator.commands(HTTP_WARM_UP_COMMANDS)]
    http_commands = [http_command(e) for e in http_generator.commands(run.total)]
    with api_corner(settings, projector=False) as corner:
        tokens = {
            principal: corner.token(principal, principal_roles(principal))
            for principal in sorted({c.principal for c in [*warm_http, *http_commands]})
        }
        load = HttpLoadProcess(
            corner.base_url,
            HTTP_CONNECTIONS,
            timeout_s=HTTP_TIMEOUT_S,
            max_backlog=int(rate_per_s * MAX_BACKLOG_S),
        )
        host = corner.base_url.removeprefix("http://")
        try:
            with SupportesClient(corner.settings) as client:
                run.warm_up_s = _warm_up(client, corner.serve, corner.serve_log)
                _warm_http(load, wire_requests(warm_http, host, tokens), rate_per_s, corner)
                _alternate(
                    corner,
                    run,
                    client=client,
                    client_envelopes=client_envelopes,
                    load=load,
                    http_requests=wire_requests(http_commands, host, tokens),
                    window_s=window_s,
                )
                timed = next(c for c in http_commands if c.principal != INTEGRATION)
                run.costs = _submit_costs(corner, tokens[timed.principal], timed)
                run.phases = _phases(corner.settings, run)
        finally:
            load.close()
    _latency_report(
        result, run, window_s=window_s, first_errors=load.first_errors, skipped=load.skipped
    )
    return result


def _alternate(
    corner: Corner,
    run: Run,
    *,
    client: SupportesClient,
    client_envelopes: Sequence[dict[str, Any]],
    load: HttpLoadProcess,
    http_requests: Sequence[HttpRequest],
    window_s: float,
) -> None:
    """The alternating windows, the client's results read by a thread of their own that
    stops through the HTTP windows (once the client window's results are in): the Kafka
    client path idles then as the HTTP client does through the client windows."""
    done = threading.Event()
    gate = ReaderGate()
    reader = threading.Thread(
        target=_collect_results,
        args=(corner.settings, run.sent_at, run.answered, run.total, done),
        kwargs={"answered_ids": run.answered_ids, "gate": gate},
        daemon=True,
    )
    reader.start()
    gc.freeze()  # the prepared commands out of this process's full collections (its pauses
    try:  # would count as latency on both paths)
        time.sleep(0.5)
        progress = Progress("api-submit-latency", "alternating windows", 2 * run.total)
        per_window = run.per_window
        for path, index in segments(run.windows):
            began = time.monotonic()
            cpu_before = _cpu(corner, load)
            window = slice(index * per_window, (index + 1) * per_window)
            if path == "http":
                run.http_samples[index] = load.paced(
                    http_requests[window], run.rate_per_s, progress
                )
                sent = [sample.sent for sample in run.http_samples[index]]
                run.offered["http"] += max(sent) - min(sent) + 1.0 / run.rate_per_s
            else:
                gate.resume()
                _paced_client(
                    client, client_envelopes[window], run.rate_per_s, run.sent_at, progress
                )
                run.client_windows[index] = (began, time.monotonic())
                run.offered["client"] += time.monotonic() - began
                _all_answered(run, (index + 1) * per_window)
                gate.pause()
            for process, used in _cpu(corner, load).items():
                if process in cpu_before:
                    key = (path, process)
                    run.cpu_s[key] = run.cpu_s.get(key, 0.0) + used - cpu_before[process]
        done.wait(max(30.0, window_s))
    finally:
        gc.unfreeze()
        done.set()  # the results reader stops within a poll
        reader.join(30)


def _all_answered(run: Run, sent: int, within_s: float = 30.0) -> None:
    """Wait (bounded) until the results of the ``sent`` client commands so far are read."""
    deadline = time.monotonic() + within_s
    while len(run.answered) < sent and time.monotonic() < deadline:
        time.sleep(0.01)


def _cpu(corner: Corner, load: HttpLoadProcess) -> dict[str, float]:
    """CPU seconds the API, the writer, this process (the Kafka client path) and the HTTP
    load generator have used so far."""
    figures = {
        "api": process_cpu_s(corner.api.pid),
        "writer": process_cpu_s(corner.serve.pid),
        "kafka client": process_cpu_s(os.getpid()),
        "http client": process_cpu_s(load.pid),
    }
    return {process: used for process, used in figures.items() if used is not None}


def _phases(settings: Settings, run: Run) -> dict[str, dict[str, tuple[float, float]]]:
    """Each path's answered commands split into the phases of the log's record timestamps."""
    offset = run.wall_offset
    client = [
        Timed(command_id, sent + offset, sent + latency + offset)
        for command_id, (sent, latency) in zip(run.answered_ids, run.answered, strict=True)
    ]
    http: list[Timed] = []
    for sample in (s for samples in run.http_samples.values() for s in samples):
        command_id = _answer_command_id(sample)
        if command_id is not None:
            http.append(
                Timed(command_id, sample.sent + offset, sample.sent + sample.latency + offset)
            )
    wanted = {t.command_id for t in [*client, *http]}
    on_log = record_times(settings, "commands", wanted)
    decided = record_times(settings, "results", wanted)
    return {
        "client": summary(phases(client, on_log, decided)),
        "http": summary(phases(http, on_log, decided)),
    }


def _answer_command_id(sample: Sample) -> str | None:
    if sample.status not in (200, 201, 409, 412) or not sample.body:
        return None
    try:
        answer = orjson.loads(sample.body)
    except orjson.JSONDecodeError:
        return None
    command_id = answer.get("command_id") if isinstance(answer, dict) else None
    return str(command_id) if command_id is not None else None


def _latency_report(
    result: Result, run: Run, *, window_s: float, first_errors: dict[int, str], skipped: int
) -> None:
    answered, client_windows, http_samples = run.answered, run.client_windows, run.http_samples
    total, offered, warm_up_s, costs = run.total, run.offered, run.warm_up_s, run.costs
    result.add(
        "warm-up",
        warm_up_s,
        "s",
        f"{WARM_UP_COMMANDS:,} commands through the client, then {HTTP_WARM_UP_COMMANDS:,} "
        "through HTTP",
    )
    every_http = [s for index in sorted(http_samples) for s in http_samples[index]]
    good = [s for s in every_http if s.status in (200, 201, 409, 412)]
    statuses: dict[int, int] = {}
    for sample in every_http:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    schedule = ", ".join(f"{p} {i + 1}" for p, i in segments(len(http_samples)))
    result.add(
        "offered (client)", total / offered["client"], "cmd/s", f"{total:,} commands; {schedule}"
    )
    result.add(
        "offered (http)",
        (total - skipped) / offered["http"],
        "cmd/s",
        f"{total - skipped:,} commands, {HTTP_CONNECTIONS} keep-alive connections, open loop",
    )
    result.add(
        "skipped (http)",
        skipped,
        "commands",
        f"not sent while {MAX_BACKLOG_S:g} s worth were unanswered (the API fell behind)",
    )
    result.add("answered (client)", len(answered), "results")
    result.add(
        "answered (http)",
        len(good),
        "results",
        "statuses " + ", ".join(f"{code}: {n:,}" for code, n in sorted(statuses.items())),
    )
    for code, text in sorted(first_errors.items()):
        result.add(f"first {code or 'failed'} answer", statuses.get(code, 0), "answers", text)
    if not answered or not good:
        return
    client_latencies = [latency for _, latency in answered]
    http_latencies = [s.latency for s in good]
    client_p50 = percentile(client_latencies, 50) * 1000
    client_p99 = percentile(client_latencies, 99) * 1000
    http_p50 = percentile(http_latencies, 50) * 1000
    http_p99 = percentile(http_latencies, 99) * 1000
    result.add("client p50", client_p50, "ms", "send -> result read (as writer-latency)")
    result.add("client p99", client_p99, "ms", f"all {len(client_latencies):,} results")
    result.add(
        "client p99 per window",
        max(_client_window_p99s(answered, client_windows)),
        "ms",
        f"worst of {len(client_windows)} x {window_s:g} s: "
        + ", ".join(f"{w:.0f}" for w in _client_window_p99s(answered, client_windows)),
    )
    result.add("http p50", http_p50, "ms", "POST /v1/commands -> its answer (the result)")
    result.add("http p99", http_p99, "ms", f"all {len(http_latencies):,} answers")
    http_windows = [
        percentile([s.latency for s in http_samples[i] if s.status], 99) * 1000
        for i in sorted(http_samples)
        if any(s.status for s in http_samples[i])
    ]
    result.add(
        "http p99 per window",
        max(http_windows),
        "ms",
        f"worst of {len(http_windows)} x {window_s:g} s: "
        + ", ".join(f"{w:.0f}" for w in http_windows),
    )
    result.add(
        "http max",
        max(http_latencies) * 1000,
        "ms",
        f"client max {max(client_latencies) * 1000:.0f} ms",
    )
    result.add("p50 difference", http_p50 - client_p50, "ms", "http - client")
    result.add("p99 difference", http_p99 - client_p99, "ms", "http - client; target <= 15 ms")
    result.add(
        "where: token check",
        costs["auth"],
        "us",
        "Authenticator.authenticate per request (auth.api_tokens lookup), median, idle",
    )
    result.add(
        "where: attest",
        costs["attest"],
        "us",
        "actor, policy, command parse and checks before sending, median, idle",
    )
    for process in ("api", "writer", "kafka client", "http client"):
        used = {path: run.cpu_s.get((path, process)) for path in ("client", "http")}
        if used["client"] is None or used["http"] is None:
            continue
        result.add(
            f"where: {process} CPU per command",
            used["http"] / total * 1e6,
            "us",
            f"its CPU in the http windows / commands; in the client windows "
            f"{used['client'] / total * 1e6:.0f} us",
        )
    for phase in PHASES:
        figures = {path: run.phases.get(path, {}).get(phase) for path in ("client", "http")}
        if figures["client"] is None or figures["http"] is None:
            continue
        (client_p50, client_p99), (http_p50, http_p99) = figures["client"], figures["http"]
        result.add(
            f"where: {phase} p99",
            http_p99 - client_p99,
            "ms",
            f"http - client; http p50 {http_p50:.1f} / p99 {http_p99:.1f}, client p50 "
            f"{client_p50:.1f} / p99 {client_p99:.1f} (record timestamps)",
        )


def _client_window_p99s(
    answered: list[tuple[float, float]], windows: dict[int, tuple[float, float]]
) -> list[float]:
    """The p99 (ms) of the client results sent in each client window, in time order."""
    figures: list[float] = []
    for index in sorted(windows):
        start, end = windows[index]
        inside = [latency for sent, latency in answered if start <= sent <= end]
        if inside:
            figures.append(percentile(inside, 99) * 1000)
    return figures
