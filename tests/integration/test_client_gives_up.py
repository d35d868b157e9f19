"""A client that gives up on its results says where its reader stood (per results partition:
position, high watermark, the leader its metadata names, the metadata's age) and why it is
diagnosable: a reader at the log's end means the answers were never written (no writer), one
behind it would be a deaf reader."""

from __future__ import annotations

import uuid

import pytest
from structlog.testing import capture_logs

from supportes.client import ResultTimeoutError, SupportesClient
from supportes.messaging.routing import partition_for
from tests.conftest import Isolated
from tests.support.commands import open_case


def test_a_client_without_a_writer_logs_where_its_reader_stood(isolated: Isolated) -> None:
    settings = isolated.settings
    case = str(uuid.uuid4())
    opening = open_case(case)
    with (
        SupportesClient(settings) as client,  # no writer runs
        capture_logs() as logs,
        pytest.raises(ResultTimeoutError) as raised,
    ):
        client.submit([opening], timeout_s=2)

    assert raised.value.missing == [opening["command_id"]]
    (gave_up,) = [e for e in logs if e["event"] == "results not seen in time"]
    assert gave_up["log_level"] == "warning"
    assert gave_up["topic"] == settings.topic("results")
    assert gave_up["missing"] == 1
    partition = str(partition_for(case, settings.partitions))
    assert set(gave_up["partitions"]) == {partition}
    stood = gave_up["partitions"][partition]
    assert stood["position"] == 0  # at the end of an empty partition: nothing was answered
    assert stood["leader"] is not None
    assert gave_up["metadata_age_s"] >= 0
