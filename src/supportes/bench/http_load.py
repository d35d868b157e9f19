"""An open-loop HTTP/1.1 load generator on plain asyncio streams, for the submit benchmark.

A general client (httpx) spent ~2.3 ms of CPU per request in the benchmark's own process, on a
2-core machine whose other core runs the API: the measurement took the CPU it measured. This
one sends prepared request bytes over keep-alive connections and reads the status line,
headers and ``Content-Length`` body back (what uvicorn answers), ~10x less work per request.
Each request is timed from its scheduled send, so waiting for a free connection counts
(coordinated omission is not hidden).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvloop

from supportes.bench.progress import Progress

READ_LIMIT = 1 << 20
"""The largest response head or body read (the API's answers are a few kB)."""


@dataclass(frozen=True)
class HttpRequest:
    """One prepared request: its bytes on the wire."""

    wire: bytes


@dataclass(frozen=True)
class Sample:
    """One request: when it was scheduled, its latency, the HTTP status (0: no answer) and
    the answer's body."""

    sent: float
    latency: float
    status: int = 0
    body: bytes = b""


def post_request(
    host: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> HttpRequest:
    """The bytes of ``POST path`` with a JSON ``body`` and extra ``headers``."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return HttpRequest(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """The status, ``Content-Length`` (0 when absent) and whether the server closes, of a
    response head (ValueError when it is not HTTP/1.1 with a length)."""
    status_line, _, rest = head.partition(b"\r\n")
    if not status_line.startswith(b"HTTP/1.1 "):
        raise ValueError(f"not an HTTP/1.1 response: {status_line[:40]!r}")
    status = int(status_line[9:12])
    length = 0
    closing = False
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not read by this client")
        elif name == b"connection" and value.strip().lower() == b"close":
            closing = True
    return status, length, closing


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: HttpRequest) -> tuple[int, bytes]:
        """Send ``request`` and read its answer; once more on a new connection when a reused
        one turns out closed before any byte of the answer (the server's keep-alive timeout)."""
        reused = self.streams is not None
        try:
            return await self._exchange_once(request)
        except asyncio.IncompleteReadError as exc:
            if not reused or exc.partial:
                raise
        return await self._exchange_once(request)

    async def _exchange_once(self, request: HttpRequest) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port, limit=READ_LIMIT)
        reader, writer = self.streams
        try:
            writer.write(request.wire)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, closing = parse_head(head)
            body = await reader.readexactly(length) if length else b""
        except BaseException:
            self.close()
            raise
        if closing:
            self.close()
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpLoad:
    """An asyncio loop in a thread with ``connections`` keep-alive connections to ``base_url``;
    :meth:`paced` offers requests at a steady rate (open loop), skipping one while
    ``max_backlog`` are unanswered."""

    def __init__(
        self, base_url: str, connections: int, *, timeout_s: float, max_backlog: int
    ) -> None:
        address = urlsplit(base_url)
        if address.scheme != "http" or address.hostname is None or address.port is None:
            raise ValueError(f"base_url: must be http://host:port, not {base_url!r}")
        self.host = f"{address.hostname}:{address.port}"
        self.timeout_s = timeout_s
        self.max_backlog = max(connections, max_backlog)
        self.skipped = 0
        """Requests not sent because ``max_backlog`` were still unanswered."""
        self.first_errors: dict[int, str] = {}
        """The first answer of each error status (4xx, 5xx; 0 for no answer), for the notes."""
        self._connections = [
            _Connection(address.hostname, address.port) for _ in range(connections)
        ]
        self.loop = uvloop.new_event_loop()  # libuv's loop: about half asyncio's CPU per request
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-http", daemon=True)
        self.thread.start()
        self._free: asyncio.Queue[_Connection] = self._call(self._make_queue(), 10)

    async def _make_queue(self) -> asyncio.Queue[_Connection]:
        free: asyncio.Queue[_Connection] = asyncio.Queue()
        for connection in self._connections:
            free.put_nowait(connection)
        return free

    def _call(self, coroutine: Any, timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    async def _exchange(self, request: HttpRequest) -> tuple[int, bytes]:
        connection = await self._free.get()
        try:
            return await connection.exchange(request)
        finally:
            self._free.put_nowait(connection)

    async def _send(self, request: HttpRequest, sent: float) -> Sample:
        try:
            status, body = await asyncio.wait_for(self._exchange(request), self.timeout_s)
            if status >= 400 and status not in self.first_errors:
                self.first_errors[status] = body[:160].decode(errors="replace")
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
            status, body = 0, b""
            self.first_errors.setdefault(0, f"{type(exc).__name__}: {exc}"[:160])
        return Sample(sent, time.monotonic() - sent, status, body)

    async def _paced(
        self, requests: Sequence[HttpRequest], rate_per_s: float, progress: Progress | None
    ) -> list[Sample]:
        interval = 1.0 / rate_per_s
        began = time.monotonic()
        tasks: list[asyncio.Task[Sample]] = []
        unanswered = 0

        def answered(_task: asyncio.Task[Sample]) -> None:
            nonlocal unanswered
            unanswered -= 1

        for index, request in enumerate(requests):
            due = began + index * interval
            pause = due - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            if progress is not None:
                progress.advance(1)
            if unanswered >= self.max_backlog:
                self.skipped += 1  # the server is that far behind: offering more only queues
                continue
            unanswered += 1
            task = asyncio.create_task(self._send(request, max(due, began)))
            task.add_done_callback(answered)
            tasks.append(task)
        return list(await asyncio.gather(*tasks))

    def paced(
        self, requests: Sequence[HttpRequest], rate_per_s: float, progress: Progress | None = None
    ) -> list[Sample]:
        """Send ``requests`` at ``rate_per_s``; every sample once all are answered (bounded by
        the per-request timeout)."""
        budget = len(requests) / rate_per_s + self.timeout_s + 60
        future = asyncio.run_coroutine_threadsafe(
            self._paced(requests, rate_per_s, progress), self.loop
        )
        try:
            samples: list[Sample] = future.result(budget)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"HTTP requests still unanswered after {budget:g} s") from None
        return samples

    def close(self) -> None:
        """Close the connections, cancel what is still in flight and stop the loop."""

        def stop_all() -> None:
            for connection in self._connections:
                connection.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(stop_all)
        self.thread.join(30)
        if not self.loop.is_running():
            self.loop.close()
