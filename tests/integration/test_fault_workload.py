"""The fault campaign's workload on the real broker: every command it sends is answered once,
its record of ids matches the results topic, and it stops by itself."""

from __future__ import annotations

import threading
from collections import Counter

from supportes.faults.workload import Workload
from tests.conftest import Isolated
from tests.support.log import read_topic, running_writer


def test_every_command_of_the_workload_is_answered_and_recorded(isolated: Isolated) -> None:
    settings = isolated.settings
    workload = Workload(settings, commands=240, clients=4, seed=5, give_up_s=60)
    with running_writer(settings, isolated.group_id):
        report = workload.run(threading.Event())
    sent = report.submitted
    assert len(sent) == 240
    assert {s.client for s in sent} == {0, 1, 2, 3}
    assert all(s.status in ("accepted", "rejected") for s in sent)
    assert Counter(s.status for s in sent)["accepted"] > 200
    answered = Counter(
        v["command_id"] for *_, v in read_topic(settings, "results") if isinstance(v, dict)
    )
    assert all(answered[s.command_id] >= 1 for s in sent)
    assert report.answered_after(0.0) is not None
