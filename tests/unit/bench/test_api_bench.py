"""The API benchmarks' pure parts: wrk's output, its command line, the HTTP requests made of
simulated commands and the alternating schedule (nothing runs)."""

from __future__ import annotations

import orjson
import pytest

from supportes.bench.api_submit import (
    INTEGRATION,
    HttpCommand,
    http_command,
    principal_roles,
    segments,
)
from supportes.bench.wrk import (
    parse_wrk,
    wrk_command,
    wrk_count,
    wrk_size,
    wrk_time_ms,
)
from supportes.simulation import TrafficGenerator

# wrk 4.1.0 (Debian) against a local server answering 404 to everything
REAL_NON_2XX = """\
Running 2s test @ http://127.0.0.1:18555/nonexistent
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.20ms    3.44ms  35.93ms   88.85%
    Req/Sec   597.70    237.31     1.03k    60.00%
  Latency Distribution
     50%    4.13ms
     75%    5.81ms
     90%    8.56ms
     99%   21.93ms
  2385 requests in 2.00s, 1.18MB read
  Non-2xx or 3xx responses: 2385
Requests/sec:   1190.04
Transfer/sec:    604.32KB
"""

REAL_OK = """\
Running 2s test @ http://127.0.0.1:18555/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.09ms    3.49ms  27.79ms   74.67%
    Req/Sec   244.62     71.56   420.00     62.50%
  Latency Distribution
     50%    6.50ms
     75%    8.89ms
     90%   11.25ms
     99%   19.71ms
  976 requests in 2.01s, 3.24MB read
Requests/sec:    485.88
Transfer/sec:      1.61MB
"""

SLOW_WITH_ERRORS = """\
Running 15s test @ http://127.0.0.1:41234/v1/cases/x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us    1.02s     2.00m    99.10%
    Req/Sec     1.21k   200.12     3.60k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.50s
     99%    1.20m
  1234567 requests in 15.01s, 1.02GB read
  Socket errors: connect 1, read 2, write 3, timeout 4
Requests/sec:  82250.30
Transfer/sec:     69.60MB
"""


def test_parses_a_real_wrk_output() -> None:
    run = parse_wrk(REAL_OK)
    assert run.requests == 976
    assert run.seconds == pytest.approx(2.01)
    assert run.requests_per_s == pytest.approx(485.88)
    assert run.latency_avg_ms == pytest.approx(7.09)
    assert run.latency_max_ms == pytest.approx(27.79)
    assert run.percentiles_ms == pytest.approx({50: 6.50, 75: 8.89, 90: 11.25, 99: 19.71})
    assert run.p50_ms == pytest.approx(6.50)
    assert run.p99_ms == pytest.approx(19.71)
    assert run.non_2xx == 0
    assert run.socket_errors == 0
    assert run.read_bytes == pytest.approx(3.24 * 1024**2)


def test_counts_non_2xx_answers() -> None:
    run = parse_wrk(REAL_NON_2XX)
    assert run.non_2xx == 2385
    assert run.requests == 2385
    assert run.p99_ms == pytest.approx(21.93)


def test_reads_every_unit_and_the_socket_errors() -> None:
    run = parse_wrk(SLOW_WITH_ERRORS)
    assert run.latency_avg_ms == pytest.approx(0.812)
    assert run.latency_max_ms == pytest.approx(120_000)
    assert run.percentiles_ms[90] == pytest.approx(1500)
    assert run.p99_ms == pytest.approx(72_000)
    assert run.socket_errors == 10
    assert run.requests == 1_234_567
    assert run.read_bytes == pytest.approx(1.02 * 1024**3)


def test_units() -> None:
    assert wrk_time_ms("812.00us") == pytest.approx(0.812)
    assert wrk_time_ms("1.02s") == pytest.approx(1020)
    assert wrk_count("1.03k") == pytest.approx(1030)
    assert wrk_count("597.70") == pytest.approx(597.7)
    assert wrk_size("604.32KB") == pytest.approx(604.32 * 1024)
    for bad in ("", "fast", "1.0 ms"):
        with pytest.raises(ValueError, match="not a wrk duration"):
            wrk_time_ms(bad)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("", "Latency"),
        ("unable to connect to 127.0.0.1:1 Connection refused\n", "Latency"),
        (REAL_OK.replace("Requests/sec:    485.88\n", ""), "Requests/sec"),
        ("\n".join(line for line in REAL_OK.splitlines() if "%" not in line[:8]), "distribution"),
    ],
)
def test_refuses_output_without_the_figures(text: str, missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        parse_wrk(text)


def test_wrk_runs_bounded_on_loopback_only() -> None:
    command = wrk_command("http://127.0.0.1:8080/bare", seconds=15, token=None)
    assert command[:4] == ["wrk", "-t2", "-c32", "-d15s"]
    assert "--latency" in command
    assert "-H" not in command
    with_token = wrk_command("http://127.0.0.1:8080/v1/cases/x", seconds=3, token="spt_x")
    assert with_token[with_token.index("-H") + 1] == "Authorization: Bearer spt_x"
    assert with_token[-1] == "http://127.0.0.1:8080/v1/cases/x"
    with pytest.raises(ValueError, match="loopback"):
        wrk_command("http://example.com:80/", seconds=1, token=None)


def test_agent_commands_are_sent_by_the_agent_and_customer_ones_by_the_integration() -> None:
    envelopes = list(TrafficGenerator(seed=3).commands(500))
    for envelope in envelopes:
        command = http_command(envelope)
        body = orjson.loads(command.body)
        assert body["type"] == envelope["type"]
        assert body["aggregate_id"] == str(envelope["aggregate_id"])
        assert body["payload"] == envelope["payload"]
        assert "actor" not in body  # the API attests actor and time
        assert "issued_at" not in body
        if envelope["actor"]["kind"] == "customer":
            assert command.principal == INTEGRATION
            assert body["on_behalf_of"] == envelope["actor"]["id"]
        else:
            assert command.principal == envelope["actor"]["id"]
            assert "on_behalf_of" not in body
    kinds = {http_command(e).principal == INTEGRATION for e in envelopes}
    assert kinds == {True, False}


def test_expected_version_becomes_if_match() -> None:
    envelope = next(iter(TrafficGenerator(seed=3).commands(1)))
    assert http_command(envelope).if_match is None
    assert http_command({**envelope, "expected_version": 4}).if_match == '"4"'


def test_roles_of_the_simulated_principals() -> None:
    assert principal_roles(INTEGRATION) == ["integration"]
    assert principal_roles("agent:003") == ["agent", "lead"]


def test_paths_alternate_window_by_window() -> None:
    assert segments(3) == [
        ("client", 0),
        ("http", 0),
        ("client", 1),
        ("http", 1),
        ("client", 2),
        ("http", 2),
    ]


def test_http_command_is_frozen() -> None:
    command = HttpCommand("agent:1", b"{}", None)
    with pytest.raises(AttributeError):
        command.principal = "x"  # type: ignore[misc]
