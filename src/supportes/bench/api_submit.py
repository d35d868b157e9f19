"""``api-submit-latency``: after the writer benchmark's warm-up, commands at a steady rate
through ``POST /v1/commands`` (several keep-alive HTTP connections, open loop) and through the
Kafka client (:class:`~supportes.client.SupportesClient`, timed from send to the result read,
as ``writer-latency``), in alternating windows of the same run so that a slow moment of this
shared machine falls on both paths alike."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import orjson

from supportes.bench.api_corner import Corner, api_corner, last_line, timed_us
from supportes.bench.progress import Progress
from supportes.bench.results import Result
from supportes.bench.stats import percentile
from supportes.bench.writer_bench import (
    LATENCY_WINDOWS,
    WARM_UP_COMMANDS,
    _collect_results,
    _warm_up,
)
from supportes.client import SupportesClient
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

HTTP_CONNECTIONS = 32
"""Keep-alive connections of the HTTP submitter (open loop: a command waits for a free one)."""
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


@dataclass(frozen=True)
class Sample:
    """One command: when it was sent, its latency, and the HTTP status (0: no answer)."""

    sent: float
    latency: float
    status: int = 0


class HttpLoad:
    """An asyncio loop in a thread with one ``httpx.AsyncClient`` of ``connections``
    keep-alive connections; :meth:`paced` offers commands at a steady rate (open loop)."""

    def __init__(self, base_url: str, tokens: dict[str, str], connections: int) -> None:
        self.tokens = tokens
        self.skipped = 0
        """Commands not sent because :data:`MAX_BACKLOG_S` worth were still unanswered."""
        self.first_errors: dict[int, str] = {}
        """The first answer of each error status (4xx, 5xx), for the notes."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-http", daemon=True)
        self.thread.start()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

        async def make() -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT_S)

        self.client = self._call(make(), 30)

    def _call(self, coroutine: Any, timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    async def _post(self, command: HttpCommand) -> Sample:
        headers = {
            "Authorization": f"Bearer {self.tokens[command.principal]}",
            "Content-Type": "application/json",
        }
        if command.if_match is not None:
            headers["If-Match"] = command.if_match
        sent = time.monotonic()
        try:
            response = await asyncio.wait_for(  # one deadline for pool wait, send and answer
                self.client.post("/v1/commands", content=command.body, headers=headers),
                HTTP_TIMEOUT_S,
            )
            status = response.status_code
            if status >= 400 and status not in self.first_errors:
                self.first_errors[status] = response.text[:160]
        except (httpx.HTTPError, TimeoutError) as exc:
            status = 0
            self.first_errors.setdefault(0, f"{type(exc).__name__}: {exc}"[:160])
        return Sample(sent, time.monotonic() - sent, status)

    async def _paced(
        self, commands: Sequence[HttpCommand], rate_per_s: float, progress: Progress | None
    ) -> list[Sample]:
        interval = 1.0 / rate_per_s
        began = time.monotonic()
        tasks: list[asyncio.Task[Sample]] = []
        backlog = max(HTTP_CONNECTIONS, int(rate_per_s * MAX_BACKLOG_S))
        for index, command in enumerate(commands):
            pause = began + index * interval - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            if progress is not None:
                progress.advance(1)
            if sum(1 for task in tasks[-backlog - 1 :] if not task.done()) >= backlog:
                self.skipped += 1  # the API is that far behind: offering more only queues
                continue
            tasks.append(asyncio.create_task(self._post(command)))
        return list(await asyncio.gather(*tasks))

    def paced(
        self, commands: Sequence[HttpCommand], rate_per_s: float, progress: Progress | None = None
    ) -> list[Sample]:
        """Send ``commands`` at ``rate_per_s``; every sample once all are answered (bounded by
        the client's 30 s timeout per request)."""
        budget = len(commands) / rate_per_s + HTTP_TIMEOUT_S + 60
        future = asyncio.run_coroutine_threadsafe(
            self._paced(commands, rate_per_s, progress), self.loop
        )
        try:
            samples: list[Sample] = future.result(budget)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"HTTP commands still unanswered after {budget:g} s") from None
        return samples

    def close(self) -> None:
        """Close the client, cancel what is still in flight and stop the loop."""
        with contextlib.suppress(Exception):
            self._call(self.client.aclose(), 10)

        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(cancel_all)
        self.thread.join(30)
        if not self.loop.is_running():
            self.loop.close()


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
    """Send ``envelopes`` through the Kafka client at a steady rate, as ``writer-latency`` does
    (each timed from just before its send; the results reader records the answers)."""
    interval = 1.0 / rate_per_s
    began = time.monotonic()
    for number, envelope in enumerate(envelopes):
        pause = began + number * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent_at[envelope["command_id"]] = time.monotonic()
        client.send([envelope], flush=False)
        progress.advance(1)


def _warm_http(
    load: HttpLoad, commands: Sequence[HttpCommand], rate_per_s: float, corner: Corner
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


def api_submit_latency(settings: Settings, rate_per_s: int, duration_s: float) -> Result:
    """Submit -> result at ``rate_per_s`` for ``duration_s`` per path, HTTP and Kafka client in
    alternating windows of one run against one writer process."""
    name = "api-submit-latency"
    windows = LATENCY_WINDOWS
    window_s = duration_s / windows
    per_window = int(rate_per_s * window_s)
    total = per_window * windows
    result = Result(
        name,
        params={
            "rate_per_s": rate_per_s,
            "duration_s": duration_s,
            "windows": windows,
            "http_connections": HTTP_CONNECTIONS,
        },
    )
    generator = TrafficGenerator(seed=7)
    client_envelopes = list(generator.commands(total))
    http_generator = TrafficGenerator(seed=11, start=datetime.now(UTC))
    warm_http = [http_command(e) for e in http_generator.commands(HTTP_WARM_UP_COMMANDS)]
    http_commands = [http_command(e) for e in http_generator.commands(total)]
    sent_at: dict[str, float] = {}
    answered: list[tuple[float, float]] = []
    http_samples: dict[int, list[Sample]] = {}
    client_windows: dict[int, tuple[float, float]] = {}
    offered: dict[str, float] = {"client": 0.0, "http": 0.0}
    with api_corner(settings, projector=False) as corner:
        tokens = {
            principal: corner.token(principal, principal_roles(principal))
            for principal in sorted({c.principal for c in [*warm_http, *http_commands]})
        }
        load = HttpLoad(corner.base_url, tokens, HTTP_CONNECTIONS)
        done = threading.Event()
        try:
            with SupportesClient(corner.settings) as client:
                warm_up_s = _warm_up(client, corner.serve, corner.serve_log)
                _warm_http(load, warm_http, rate_per_s, corner)
                reader = threading.Thread(
                    target=_collect_results,
                    args=(corner.settings, sent_at, answered, total, done),
                    daemon=True,
                )
                reader.start()
                time.sleep(0.5)
                progress = Progress(name, "alternating windows", 2 * total)
                for path, index in segments(windows):
                    began = time.monotonic()
                    if path == "http":
                        chunk = http_commands[index * per_window : (index + 1) * per_window]
                        http_samples[index] = load.paced(chunk, rate_per_s, progress)
                        sent = [sample.sent for sample in http_samples[index]]
                        offered["http"] += max(sent) - min(sent) + 1.0 / rate_per_s
                    else:
                        chunk_envelopes = client_envelopes[
                            index * per_window : (index + 1) * per_window
                        ]
                        _paced_client(client, chunk_envelopes, rate_per_s, sent_at, progress)
                        client_windows[index] = (began, time.monotonic())
                        offered["client"] += time.monotonic() - began
                done.wait(max(30.0, window_s))
                done.set()
                reader.join(30)
                timed = next(c for c in http_commands if c.principal != INTEGRATION)
                costs = _submit_costs(corner, tokens[timed.principal], timed)
        finally:
            done.set()  # the results reader stops within a poll
            load.close()
    _latency_report(
        result,
        answered=answered,
        client_windows=client_windows,
        http_samples=http_samples,
        total=total,
        offered=offered,
        warm_up_s=warm_up_s,
        costs=costs,
        window_s=window_s,
        first_errors=load.first_errors,
        skipped=load.skipped,
    )
    return result


def _latency_report(
    result: Result,
    *,
    answered: list[tuple[float, float]],
    client_windows: dict[int, tuple[float, float]],
    http_samples: dict[int, list[Sample]],
    total: int,
    offered: dict[str, float],
    warm_up_s: float,
    costs: dict[str, float],
    window_s: float,
    first_errors: dict[int, str],
    skipped: int,
) -> None:
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
