"""A command id is an idempotency key: the same command again gets its first result; the same
id on another command is refused ``idempotency_key_reused`` — also after the index has been
rebuilt from the log (the digest rides on the result record), and within one batch."""

from __future__ import annotations

import uuid

import psycopg2

from supportes.client import SupportesClient
from tests.conftest import Isolated
from tests.support.commands import open_case
from tests.support.log import read_topic, running_writer


def test_a_reused_command_id_with_another_body_is_refused_and_the_first_result_stands(
    isolated: Isolated,
) -> None:
    settings = isolated.settings
    first_case, other_case = str(uuid.uuid4()), str(uuid.uuid4())
    opening = open_case(first_case)
    other_aggregate = {**open_case(other_case), "command_id": opening["command_id"]}
    other_subject = {
        **opening,
        "payload": {**opening["payload"], "subject": "Something else entirely"},
    }
    resent_later = {**opening, "issued_at": "2026-11-22T10:07:00Z"}  # a retry, stamped anew
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        first = client.submit([opening])[0]
        refused = client.submit([other_aggregate])[0]
        refused_same_case = client.submit([other_subject])[0]
        again = client.submit([opening])[0]
        retried = client.submit([resent_later])[0]

    assert first["status"] == "accepted"
    assert refused["status"] == "rejected"
    assert refused["error"]["code"] == "idempotency_key_reused"
    assert refused["error"]["field"] == "command_id"
    assert refused["aggregate_id"] == other_case
    assert refused_same_case["error"]["code"] == "idempotency_key_reused"
    assert again == first
    assert retried == first
    events = [e for *_, e in read_topic(settings, "events")]
    assert [(e["type"], e["aggregate_id"]) for e in events] == [("CaseOpened", first_case)]


def test_digests_survive_an_index_rebuilt_from_the_log(isolated: Isolated) -> None:
    settings = isolated.settings
    opening = open_case(str(uuid.uuid4()))
    reused = {**open_case(str(uuid.uuid4())), "command_id": opening["command_id"]}
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        first = client.submit([opening])[0]
    conn = psycopg2.connect(isolated.dsn)
    with conn, conn.cursor() as cur:  # forget everything indexed: a new writer re-learns it
        cur.execute("TRUNCATE event_index.events, event_index.processed_commands")
        cur.execute("TRUNCATE event_index.log_positions")
    conn.close()
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        refused = client.submit([reused])[0]
        again = client.submit([opening])[0]
    assert refused["error"]["code"] == "idempotency_key_reused"
    assert again == first
    conn = psycopg2.connect(isolated.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT digest FROM event_index.processed_commands")
        assert [len(d) for (d,) in cur.fetchall()] == [64]
    conn.close()


def test_a_reused_command_id_within_one_cycle_is_refused(isolated: Isolated) -> None:
    settings = isolated.settings
    opening = open_case(str(uuid.uuid4()))
    reused = {**open_case(str(uuid.uuid4())), "command_id": opening["command_id"]}
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as client:
        client.send([opening, opening, reused])  # one send: most likely one poll batch
        results = [v for *_, v in read_topic(settings, "results")]
        while len(results) < 3:
            results = [v for *_, v in read_topic(settings, "results")]
    # Which body comes first is not defined across partitions; exactly one of them wins.
    events = [e for *_, e in read_topic(settings, "events")]
    assert [e["type"] for e in events] == ["CaseOpened"]
    winner = events[0]["aggregate_id"]
    for result in results:
        if result["aggregate_id"] == winner:
            assert result["status"] == "accepted", result
        else:
            assert result["error"]["code"] == "idempotency_key_reused", result
