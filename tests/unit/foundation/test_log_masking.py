"""No personal field in any log line: the structlog processor masks them (design section 9)."""

from __future__ import annotations

import json
import subprocess
import sys

from supportes.logs import PERSONAL_MASK, SEALED_MASK, mask_personal_data, personal_field_names


def test_the_masked_names_are_the_domains_personal_fields() -> None:
    names = personal_field_names()
    assert {"subject", "description", "summary", "message", "resolution", "comment"} <= names
    assert not names & {"case_id", "command_id", "customer_id", "agent_id", "partition", "offset"}


def test_top_level_and_nested_personal_fields_are_masked_and_ids_kept() -> None:
    line = mask_personal_data(
        None,
        "info",
        {
            "event": "command rejected",
            "case_id": "c-1",
            "summary": "my card 4111 was charged twice",
            "envelope": {
                "command_id": "k-1",
                "payload": {"customer_id": "cust-9", "description": "I live at 1 Main St"},
            },
            "events": [{"payload": {"subject": "John's refund", "priority": "high"}}],
            "sealed": {"$enc": "v1", "kid": "k", "nonce": "n", "ct": "c"},
        },
    )
    assert line["case_id"] == "c-1"
    assert line["summary"] == PERSONAL_MASK
    assert line["envelope"]["command_id"] == "k-1"
    assert line["envelope"]["payload"] == {"customer_id": "cust-9", "description": PERSONAL_MASK}
    assert line["events"][0]["payload"] == {"subject": PERSONAL_MASK, "priority": "high"}
    assert line["sealed"] == SEALED_MASK
    assert "4111" not in json.dumps(line)
    assert "Main St" not in json.dumps(line)


def test_the_configured_logger_masks_them_in_its_json_lines() -> None:
    code = (
        "from supportes.logs import configure_logging, get_logger\n"
        "configure_logging('info', 'json')\n"
        "get_logger('t').info('contact', case_id='c-7', summary='secret sauce',"
        " payload={'message': 'call me on 555-0100'})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["case_id"] == "c-7"
    assert line["summary"] == PERSONAL_MASK
    assert line["payload"] == {"message": PERSONAL_MASK}
    assert "secret sauce" not in done.stderr
    assert "555-0100" not in done.stderr
