"""Personal data end to end (issue 16), on the real broker, writer, projector and PostgreSQL:
sealed where the command is made, no plaintext on any topic, opened by the projections."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from supportes.client import SupportesClient
from supportes.consumers.projector import Projector
from supportes.ops.projection_status import wait_until_caught_up
from supportes.privacy.wiring import command_sealer
from tests.conftest import Isolated
from tests.support.commands import command
from tests.support.leaks import found_in, pg_dump, topics_holding
from tests.support.log import running_writer
from tests.support.personal_story import marker_for, story


@pytest.fixture
def projecting(isolated: Isolated) -> Iterator[Projector]:
    """A projector running on a thread for the test."""
    stop = threading.Event()
    projector = Projector(isolated.settings, group_id=isolated.projector_group)
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield projector
    finally:
        stop.set()
        thread.join(timeout=60)


def test_no_plaintext_reaches_a_topic_and_the_projections_read_it(
    isolated: Isolated, projecting: Projector
) -> None:
    settings = isolated.settings
    sealed_customer = f"customer:sealed-{uuid.uuid4().hex[:8]}"
    plain_customer = f"customer:plain-{uuid.uuid4().hex[:8]}"
    sealed_cases = [str(uuid.uuid4()) for _ in range(2)]
    plain_case = str(uuid.uuid4())
    with running_writer(settings, isolated.group_id):
        with SupportesClient(settings, command_sealer(settings)) as client:
            results = client.submit(
                [c for n, case in enumerate(sealed_cases) for c in story(case, sealed_customer, n)]
            )
        with SupportesClient(settings) as plain:  # the control: a client that does not seal
            results += plain.submit(story(plain_case, plain_customer))
        assert {r["status"] for r in results} == {"accepted"}, results
        assert wait_until_caught_up(settings, timeout_s=120)

    marker = marker_for(sealed_customer)
    assert topics_holding(settings, marker_for(plain_customer)), "the scan finds plaintext"
    assert not topics_holding(settings, marker)
    with psycopg2.connect(isolated.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT subject, description, resolution FROM proj.case_view WHERE case_id = %s",
            (sealed_cases[0],),
        )
        assert cur.fetchone() == (
            f'{marker}-subject-0 ünïcode "quoted"',
            f'{marker}-description-0 ünïcode "quoted"',
            f'{marker}-resolution-0 ünïcode "quoted"',
        )
        cur.execute(
            "SELECT count(*) FROM proj.case_timeline WHERE case_id = ANY(%s::uuid[])"
            " AND summary LIKE %s",
            (sealed_cases, f"%{marker}%"),
        )
        # every event of the story but CallbackScheduled, FollowUpScheduled (no text),
        # CaseAcknowledged (its line names the reference, not the message) and the last
        # CaseReopened (the domain's own reason)
        assert cur.fetchone() == (2 * 16,)
        cur.execute(
            "SELECT count(*) FROM event_index.events WHERE envelope::text LIKE %s", (f"%{marker}%",)
        )
        assert cur.fetchone() == (0,)
    assert found_in(pg_dump(isolated.dsn), marker)  # the read models hold it, in plaintext


def test_the_writer_refuses_personal_data_of_an_erased_customer(isolated: Isolated) -> None:
    """Behind the front doors: a command sealed in the second before an erasure (a front
    door's key cache) or sent by a client that does not seal reaches the writer, which looks
    the customer up in ``privacy.erased_subjects`` and refuses it ``subject_erased``; commands
    without personal text on the same case, and another customer's, are taken."""
    settings = isolated.settings
    gone = f"customer:gone-{uuid.uuid4().hex[:8]}"
    kept = f"customer:kept-{uuid.uuid4().hex[:8]}"
    old_case, new_case, kept_case = (str(uuid.uuid4()) for _ in range(3))
    with running_writer(settings, isolated.group_id), SupportesClient(settings) as plain:
        opened = plain.submit([story(old_case, gone)[0], story(kept_case, kept)[0]])
        assert {r["status"] for r in opened} == {"accepted"}, opened
        with psycopg2.connect(isolated.dsn) as conn, conn.cursor() as cur:  # as an erasure does
            cur.execute(
                "INSERT INTO privacy.erased_subjects (subject, reason) VALUES (%s, 'ticket 14')",
                (gone,),
            )
        later = [
            story(new_case, gone)[0],  # OpenCase naming the erased customer
            command("RecordContact", old_case, {"direction": "inbound", "channel": "chat",
                                                "summary": "text about them"}, minutes=30),
            command("Acknowledge", old_case, {}, minutes=31),  # no personal text
            command("RecordContact", kept_case, {"direction": "inbound", "channel": "chat",
                                                 "summary": "another customer"}, minutes=32),
        ]  # fmt: skip
        results = plain.submit(later)
    codes = [r["status"] if r["status"] == "accepted" else r["error"]["code"] for r in results]
    assert codes == ["subject_erased", "subject_erased", "accepted", "accepted"], results
    assert {r["error"]["field"] for r in results[:2]} == {"payload"}
