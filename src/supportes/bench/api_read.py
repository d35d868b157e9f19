"""``api-read``: ``wrk`` (loopback, bounded) on ``GET /v1/cases/{id}`` with an agent token and,
in the same run, on ``GET /bare`` of the same API process answering the very bytes of that
case's body; requests/s, p99 and the ratio of the two, and where a request's time goes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from supportes.bench.api_corner import TIMING_CALLS, Corner, api_corner, timed_us
from supportes.bench.results import Result
from supportes.bench.stats import percentile
from supportes.bench.wrk import WRK_CONNECTIONS, WRK_THREADS, run_wrk
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

WRK_WARM_UP_S = 3
POOLED = 8
"""Connections of the extra case run: as many as the API's PostgreSQL connections
(``SUPPORTES_API_DB_CONNECTIONS`` 8), so no request waits for one."""


def _http_command(
    client: httpx.Client, token: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/v1/commands", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    document: dict[str, Any] = response.json()
    return response.status_code, document


def _open_case(corner: Corner, token: str) -> tuple[str, int]:
    """Open one realistic case through HTTP and take it a few steps (acknowledge, assign...);
    its id and version once ``proj.case_view`` shows that version."""
    envelopes = list(TrafficGenerator(seed=21, start=datetime.now(UTC)).commands(3000))
    opened = next(e for e in envelopes if e["type"] == "OpenCase")
    case_id = str(opened["aggregate_id"])
    steps = [e for e in envelopes if e["aggregate_id"] == opened["aggregate_id"]]
    version = 0
    with httpx.Client(base_url=corner.base_url) as client:
        for step in steps[:6]:
            body = {"type": step["type"], "aggregate_id": case_id, "payload": step["payload"]}
            status, document = _http_command(client, token, body)
            if status in (200, 201):
                version = int(document["version"])
            elif step is opened:
                raise RuntimeError(f"OpenCase through HTTP answered {status}: {document}")
        deadline = time.monotonic() + 60
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < deadline:
            response = client.get(f"/v1/cases/{case_id}", headers=headers, timeout=10)
            if response.status_code == 200 and response.headers.get("ETag") == f'"{version}"':
                corner.bare_file.write_bytes(response.content)
                return case_id, version
            time.sleep(0.2)
    raise TimeoutError(f"case {case_id} was not projected at version {version} within 60 s")


def _read_costs(corner: Corner, token: str, case_id: str) -> dict[str, float]:
    """Microseconds per request of the case route's parts, timed here on an idle machine."""
    from supportes.api.access import visible_case_row
    from supportes.api.database import Database, api_async_pool, api_pool
    from supportes.api.encoding import json_response
    from supportes.auth import Authenticator
    from supportes.auth.authenticator import token_cache

    header = f"Bearer {token}"
    uncached = Authenticator(corner.settings)
    cache = token_cache(corner.settings)
    cached = Authenticator(corner.settings, cache=cache)
    try:
        caller = uncached.authenticate(header)
        lookup = timed_us(lambda: uncached.authenticate(header))
        if cache is not None and cache.wait_listening(10):
            cached.authenticate(header)
        hit = timed_us(lambda: cached.cached(header))
    finally:
        uncached.close()
        cached.close()
        if cache is not None:
            cache.close()
    database = Database(api_pool(corner.settings), api_async_pool(corner.settings))

    async def on_the_loop() -> tuple[float, float, dict[str, Any]]:
        from starlette.concurrency import run_in_threadpool

        row = await visible_case_row(database, caller, case_id)
        reads: list[float] = []
        hops: list[float] = []
        for _ in range(TIMING_CALLS):
            began = time.perf_counter()
            await visible_case_row(database, caller, case_id)
            reads.append(time.perf_counter() - began)
            began = time.perf_counter()
            await run_in_threadpool(lambda: None)
            hops.append(time.perf_counter() - began)
        database.close()  # on the loop its connections belong to
        return percentile(reads, 50) * 1e6, percentile(hops, 50) * 1e6, row

    try:
        read, hop, row = asyncio.run(on_the_loop())
    finally:
        database.close()
    encode = timed_us(lambda: json_response(row, headers={"ETag": '"1"'}))
    return {"lookup": lookup, "hit": hit, "pg": read, "hop": hop, "encode": encode}


def api_read(settings: Settings, seconds: int) -> Result:
    """wrk on one case and on the bare endpoint of the same API process, same run."""
    name = "api-read"
    result = Result(
        name,
        params={"threads": WRK_THREADS, "connections": WRK_CONNECTIONS, "seconds": seconds},
    )
    with api_corner(settings, projector=True) as corner:
        token = corner.token("agent:bench-reader", ["agent"])
        case_id, version = _open_case(corner, token)
        case_url = f"{corner.base_url}/v1/cases/{case_id}"
        bare_url = f"{corner.base_url}/bare"
        run_wrk(case_url, seconds=WRK_WARM_UP_S, token=token)
        run_wrk(bare_url, seconds=WRK_WARM_UP_S)
        case = run_wrk(case_url, seconds=seconds, token=token)
        bare = run_wrk(bare_url, seconds=seconds)
        pooled = run_wrk(case_url, seconds=seconds, token=token, connections=POOLED)
        costs = _read_costs(corner, token, case_id)
        body_bytes = corner.bare_file.stat().st_size
    for label, run in (("case", case), ("bare", bare), (f"case -c{POOLED}", pooled)):
        if run.non_2xx or run.socket_errors:
            raise RuntimeError(
                f"wrk on the {label} endpoint: {run.non_2xx} non-2xx answers, "
                f"{run.socket_errors} socket errors"
            )
    how = f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{seconds}s, loopback"
    result.add(
        "case requests",
        case.requests_per_s,
        "req/s",
        f"GET /v1/cases/{{id}}, agent token, {body_bytes:,} B body (v{version}); {how}",
    )
    result.add("case p50", case.p50_ms, "ms")
    result.add("case p99", case.p99_ms, "ms", f"max {case.latency_max_ms:.1f} ms")
    result.add(
        "bare requests",
        bare.requests_per_s,
        "req/s",
        "GET /bare of the same app and process: the same bytes, no auth, no database",
    )
    result.add("bare p50", bare.p50_ms, "ms")
    result.add("bare p99", bare.p99_ms, "ms", f"max {bare.latency_max_ms:.1f} ms")
    result.add(
        f"case requests -c{POOLED}",
        pooled.requests_per_s,
        "req/s",
        f"p50 {pooled.p50_ms:.1f} / p99 {pooled.p99_ms:.1f} ms; {POOLED} connections: no more "
        "requests in flight than the API keeps PostgreSQL connections",
    )
    result.add(
        "ratio to bare",
        100 * case.requests_per_s / bare.requests_per_s,
        "%",
        "target >= 50%",
    )
    per_case = 1e6 / case.requests_per_s
    per_bare = 1e6 / bare.requests_per_s
    result.add(
        "time per request",
        per_case,
        "us",
        f"bare {per_bare:.0f} us: the case route adds {per_case - per_bare:.0f} us",
    )
    result.add(
        "where: token check",
        costs["hit"],
        "us",
        f"answered from the verified-token cache; {costs['lookup']:.0f} us when it is looked up"
        " in auth.api_tokens (a miss), median, idle machine",
    )
    result.add(
        "where: case read",
        costs["pg"],
        "us",
        "proj.case_view row by id, one query on an asynchronous connection, on the event loop",
    )
    result.add(
        "where: a thread hop",
        costs["hop"],
        "us",
        "one run_in_threadpool round trip, what the case read no longer pays",
    )
    result.add("where: encode", costs["encode"], "us", "orjson response of the row")
    return result
