"""The fault campaign's workload: concurrent clients submitting realistic commands, each waiting
for every answer (and trying the same command again, same id, until one comes), half through the
HTTP API and half through the Kafka client, recording what they sent and what came back.

Each client owns its cases (a traffic generator of its own seed), so the order of one case's
commands is the order its client sends them. API clients act as an ``admin`` token, which may
stamp ``issued_at`` (the generator's times); their command ids are derived from the
``Idempotency-Key`` exactly as the API derives them, so a command whose answer never came is
still known by id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from supportes.auth import Principal, Role
from supportes.client import SupportesClient
from supportes.logs import get_logger
from supportes.ops.submission import command_id_for
from supportes.settings import Settings
from supportes.simulation import TrafficGenerator

log = get_logger("faults.workload")

HISTORY = timedelta(days=90)
"""How far in the past a client's stream starts: the generator's clock moves ~20 s per command,
so ~390,000 commands per client stay behind the writer's clock (``issued_at`` ahead of it by
more than the allowed skew is refused)."""
RETRY_PAUSE_S = 1.0
ANSWER_WAIT_S = 20.0
"""How long one attempt waits for its answers before the commands are sent again (same ids):
long enough for a writer that is catching up, or retries pile onto its backlog."""
RECREATE_AFTER_TIMEOUTS = 2
"""Time-outs in a row after which a Kafka client is made anew."""
KAFKA_BATCH = 50
"""Commands a Kafka client sends at once (consecutive ones of its stream: one case's commands
keep their order on its partition); API clients send one at a time."""
"""How long one attempt waits for its answer before the command is sent again (same id)."""


@dataclass
class Submitted:
    """One command of the workload and what became of it."""

    command_id: str
    type: str
    aggregate_id: str
    client: int
    via: str
    """``api`` or ``kafka``."""
    first_sent: float
    attempts: int = 0
    answered_at: float | None = None
    status: str | None = None
    """``accepted`` / ``rejected`` (the answer), None when none came before the end."""
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON line for the checker's input (``command_id`` is what it reads)."""
        return {
            "command_id": self.command_id,
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "client": self.client,
            "via": self.via,
            "attempts": self.attempts,
            "status": self.status,
            "code": self.code,
        }


@dataclass
class WorkloadReport:
    """Every command sent, in sending order per client."""

    submitted: list[Submitted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, item: Submitted) -> None:
        """Record a command being sent."""
        with self.lock:
            self.submitted.append(item)

    def answered_after(self, moment: float, status: str = "accepted") -> float | None:
        """The first time after ``moment`` a command was answered ``status`` (None: never)."""
        times = [
            s.answered_at
            for s in self.submitted
            if s.answered_at is not None and s.answered_at > moment and s.status == status
        ]
        return min(times) if times else None


@dataclass(frozen=True)
class ApiAccess:
    """Where the API replicas listen and the admin token to use (its principal id too)."""

    base_urls: Sequence[str]
    token: str
    principal_id: str


class Workload:
    """``clients`` threads submitting ``commands`` in all; :meth:`run` blocks until done or
    ``stop`` (a bounded run: every command is given up after ``give_up_s``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        commands: int,
        clients: int = 8,
        api: ApiAccess | None = None,
        seed: int = 2026,
        give_up_s: float = 300.0,
    ) -> None:
        if clients < 1 or commands < clients:
            raise ValueError("need at least one client and one command per client")
        self.settings = settings
        self.commands = commands
        self.clients = clients
        self.api = api
        self.seed = seed
        self.give_up_s = give_up_s
        self.report = WorkloadReport()
        self._until: threading.Event | None = None

    def run(self, stop: threading.Event, *, until: threading.Event | None = None) -> WorkloadReport:
        """Run every client to its end (or ``stop``); with ``until``, clients go on past their
        share of the commands until it is set (so the load spans a fault schedule). The
        report."""
        self._until = until
        threads = [
            threading.Thread(target=self._client, args=(n, stop), name=f"workload-{n}", daemon=True)
            for n in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.report

    def _client(self, number: int, stop: threading.Event) -> None:
        share = self.commands // self.clients + (number < self.commands % self.clients)
        start = datetime.now(UTC) - HISTORY
        generator = TrafficGenerator(
            seed=self.seed * 100 + number, start=start, concurrent_cases=20, full_mix=True
        )
        via_api = self.api is not None and number % 2 == 1
        submit = self._api_submitter(number) if via_api else self._kafka_submitter()
        size = 1 if via_api else KAFKA_BATCH
        sent = 0
        try:
            batch: list[Mapping[str, Any]] = []
            for envelope in self._stream(generator, share):
                batch.append(envelope)
                sent += 1
                if sent > share:  # past its share, until the schedule ends: a steady trickle
                    size = 1
                if len(batch) >= size:
                    if stop.is_set():
                        return
                    self._batch(number, batch, submit, "api" if via_api else "kafka", stop)
                    batch = []
            if batch and not stop.is_set():
                self._batch(number, batch, submit, "api" if via_api else "kafka", stop)
        except Exception:
            log.exception("workload client failed", client=number)
            raise
        finally:
            submit.close()

    def _stream(self, generator: TrafficGenerator, share: int) -> Iterator[Mapping[str, Any]]:
        """``share`` commands, then more while :meth:`run`'s ``until`` is not set."""
        yield from generator.commands(share)
        while self._until is not None and not self._until.is_set():
            yield from generator.commands(KAFKA_BATCH)

    def _batch(
        self,
        number: int,
        envelopes: Sequence[Mapping[str, Any]],
        submit: _Submitter,
        via: str,
        stop: threading.Event,
    ) -> None:
        """Send ``envelopes`` (in order) until each is answered, the same ids every time."""
        now = time.monotonic()
        items = [
            Submitted(
                submit.command_id(e), str(e["type"]), str(e["aggregate_id"]), number, via, now
            )
            for e in envelopes
        ]
        for item in items:
            self.report.add(item)
        deadline = now + self.give_up_s
        while time.monotonic() < deadline and not stop.is_set():
            waiting = [n for n, item in enumerate(items) if item.status is None]
            if not waiting:
                return
            answers = submit.attempt([envelopes[n] for n in waiting])
            answered_at = time.monotonic()
            for n, answer in zip(waiting, answers, strict=True):
                items[n].attempts += 1
                if answer is not None:
                    items[n].answered_at = answered_at
                    items[n].status = str(answer.get("status"))
                    error = answer.get("error")
                    items[n].code = str(error.get("code")) if isinstance(error, Mapping) else None
            if any(item.status is None for item in items):
                time.sleep(RETRY_PAUSE_S)
        for item in items:
            if item.status is None:
                log.warning("command given up", client=number, command_id=item.command_id)

    def _kafka_submitter(self) -> _Submitter:
        return _KafkaSubmitter(self.settings)

    def _api_submitter(self, number: int) -> _Submitter:
        assert self.api is not None
        return _ApiSubmitter(self.api, number)


class _Submitter:
    """One way of sending commands and waiting for their answers (None: try again)."""

    def command_id(self, envelope: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def attempt(self, envelopes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class _KafkaSubmitter(_Submitter):
    """:class:`SupportesClient`: the envelope as generated, its own ``command_id``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: SupportesClient | None = None
        self._timeouts = 0

    def command_id(self, envelope: Mapping[str, Any]) -> str:
        return str(envelope["command_id"])

    def attempt(self, envelopes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        try:
            if self._client is None:
                self._client = SupportesClient(self._settings)
            answers: list[Mapping[str, Any] | None] = list(
                self._client.submit(envelopes, timeout_s=ANSWER_WAIT_S)
            )
            self._timeouts = 0
            return answers
        except TimeoutError:
            # All again: the answered ones are answered again. The same client first (its
            # reader keeps its place, so answers to the earlier attempt still count: a new
            # one would skip them and fall behind its own retries); a new one after a second
            # time-out in a row, in case its connections went deaf through a broker's death
            # (the recommended client-side defence: re-create after an RPC time-out).
            self._timeouts += 1
            if self._timeouts >= RECREATE_AFTER_TIMEOUTS:
                self.close()
            return [None] * len(envelopes)
        except Exception as exc:  # the broker away: a new client next time
            log.info("kafka client attempt failed", error=type(exc).__name__)
            self.close()
            return [None] * len(envelopes)

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                client.close()
            except Exception:
                log.info("kafka client close failed")


class _ApiSubmitter(_Submitter):
    """``POST /v1/commands`` as ``admin`` with an ``Idempotency-Key``, replicas in turn; a
    pending (202) answer is read back from ``GET /v1/commands/{id}``."""

    def __init__(self, api: ApiAccess, number: int) -> None:
        self._api = api
        self._turn = number
        self._principal = Principal(api.principal_id, frozenset({Role.ADMIN}))
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api.token}"}, timeout=ANSWER_WAIT_S
        )

    def command_id(self, envelope: Mapping[str, Any]) -> str:
        return str(command_id_for(self._principal, self._key(envelope)))

    @staticmethod
    def _key(envelope: Mapping[str, Any]) -> str:
        return f"campaign-{envelope['command_id']}"

    def attempt(self, envelopes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        answers: list[Mapping[str, Any] | None] = []
        for envelope in envelopes:
            answer = self._one(envelope)
            answers.append(answer)
            if answer is None:  # the rest may be of the same case: after this one only
                answers.extend([None] * (len(envelopes) - len(answers)))
                break
        return answers

    def _one(self, envelope: Mapping[str, Any]) -> Mapping[str, Any] | None:
        base = self._api.base_urls[self._turn % len(self._api.base_urls)]
        self._turn += 1  # the next attempt goes to the other replica
        body = {
            "type": envelope["type"],
            "aggregate_id": envelope["aggregate_id"],
            "payload": envelope.get("payload") or {},
            "issued_at": envelope["issued_at"],
        }
        try:
            answer = self._http.post(
                f"{base}/v1/commands", json=body, headers={"Idempotency-Key": self._key(envelope)}
            )
            if answer.status_code == 202:
                return self._read_back(base, self.command_id(envelope))
        except httpx.HTTPError as exc:
            log.info("api attempt failed", error=type(exc).__name__)
            return None
        if answer.status_code >= 500 or answer.status_code == 429:  # not an answer: again
            return None
        return _as_result(answer)

    def _read_back(self, base: str, command_id: str) -> Mapping[str, Any] | None:
        deadline = time.monotonic() + ANSWER_WAIT_S
        while time.monotonic() < deadline:
            answer = self._http.get(f"{base}/v1/commands/{command_id}")
            if answer.status_code == 200:
                return _as_result(answer)
            time.sleep(0.2)
        return None

    def close(self) -> None:
        self._http.close()


def _as_result(answer: httpx.Response) -> Mapping[str, Any]:
    """A result-shaped answer: the API's result body, or a refusal (4xx) as rejected."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code < 300 and isinstance(body, dict) and "status" in body:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    return {"status": "rejected", "error": error or {"code": str(answer.status_code)}}
