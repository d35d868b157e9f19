"""The console's pure parts: chart specs from rows, JSON blocks that no text can close, the
vendored chart bundle and its licences, and the security headers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supportes.console.charts import bar_chart, line_chart, responsibility_chart
from supportes.console.web import CONTENT_SECURITY_POLICY, HERE, chart_json, duration
from supportes.ops.responsibility_audit import Interval

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VENDOR = HERE / "static" / "vendor"


def _held(role: str, agent: str, start_h: int, end_h: int | None, version: int) -> Interval:
    return Interval(
        role=role,
        agent_id=agent,
        from_at=T0 + timedelta(hours=start_h),
        from_version=version,
        to_at=None if end_h is None else T0 + timedelta(hours=end_h),
        to_version=None if end_h is None else version + 1,
        opened_by="agent:lead",
        opened_by_event="CaseAssigned",
        closed_by=None,
        closed_by_event=None,
        note=None,
    )


def test_the_responsibility_chart_has_a_bar_per_interval_and_a_tick_per_hand_off() -> None:
    trail = [
        _held("assignee", "agent:ann", 0, 2, 2),
        _held("responsible", "agent:ann", 0, 5, 3),
        _held("assignee", "agent:bob", 2, None, 4),
        _held("escalation", "agent:lead", 3, None, 5),
    ]
    now = T0 + timedelta(hours=9)
    spec = responsibility_chart(trail, now)
    bars, ticks = spec["layer"]
    assert bars["name"] == "held"
    assert len(bars["data"]["values"]) == 4
    assert bars["data"]["values"][2]["to"] == now.isoformat()  # open: runs to now
    (hand_off,) = ticks["data"]["values"]
    assert hand_off["role"] == "assignee"
    assert hand_off["at"] == (T0 + timedelta(hours=2)).isoformat()
    assert hand_off["to"] == "agent:bob"
    assert hand_off["label"].startswith("assignee handed from agent:ann to agent:bob")
    assert ticks["encoding"]["description"] == {"field": "label"}  # accessible names
    assert bars["encoding"]["y"]["sort"] == ["assignee", "responsible", "escalation"]
    assert "4 intervals" in spec["description"]


def test_a_bar_chart_ranks_counts_and_names_missing_labels() -> None:
    spec = bar_chart(
        [{"t": "Slow line", "n": 3}, {"t": None, "n": None}],
        "t",
        "n",
        description="d",
        value_title="cases",
    )
    assert spec["data"]["values"] == [
        {"label": "Slow line", "value": 3},
        {"label": "(none)", "value": 0},
    ]
    assert spec["encoding"]["y"]["sort"] == "-x"


def test_a_line_chart_skips_days_without_a_value_and_draws_the_service_level() -> None:
    days = [
        {"day": "2026-12-01", "m": 7200},
        {"day": "2026-12-02", "m": None},
        {"day": "2026-12-03", "m": 1800},
    ]
    spec = line_chart(days, "m", description="d", title="h", scale=3600.0, reference=1.0)
    line, level = spec["layer"]
    assert line["data"]["values"] == [
        {"day": "2026-12-01", "value": 2.0},
        {"day": "2026-12-03", "value": 0.5},
    ]
    assert level["name"] == "service_level"
    assert level["data"]["values"][0]["level"] == 1.0
    assert len(line_chart(days, "m", description="d", title="h")["layer"]) == 1


@pytest.mark.parametrize(
    "text", ["</script><script>alert(1)</script>", "<!--", "a & b", "]]>", "\u2028"]
)
def test_chart_json_cannot_close_its_script_block(text: str) -> None:
    block = chart_json({"title": text})
    assert "<" not in block
    assert ">" not in block
    assert "&" not in block
    assert json.loads(block) == {"title": text}


def test_the_policy_allows_only_the_consoles_own_assets() -> None:
    directives = dict(
        part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";") if part.strip()
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY  # no other origin


def test_the_vendored_bundle_is_the_one_its_manifest_names_with_every_licence() -> None:
    manifest = json.loads((VENDOR / "manifest.json").read_text())
    bundle = (VENDOR / manifest["bundle"]).read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == manifest["sha256"]
    licences = (VENDOR / "THIRD_PARTY_LICENSES.txt").read_text()
    for name, package in manifest["packages"].items():
        assert f"==== {name} {package['version']} " in licences, name
    for needed in ("vega", "vega-lite", "vega-embed", "vega-interpreter"):
        assert needed in manifest["packages"]
    pinned = json.loads((HERE / "assets" / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        assert manifest["packages"][name]["version"] == version


def test_no_console_asset_is_fetched_from_another_origin() -> None:
    for path in [*Path(HERE / "templates").glob("*.html"), HERE / "static" / "console.js"]:
        text = path.read_text()
        assert "http://" not in text
        assert "https://" not in text.replace("https://vega.github.io/schema", "")


def test_a_trail_without_hand_offs_has_no_empty_tick_layer() -> None:
    spec = responsibility_chart([_held("assignee", "agent:ann", 0, None, 2)], T0)
    (bars,) = spec["layer"]  # an empty mark group would be an unlabelled graphic (axe)
    assert bars["data"]["values"][0]["label"].startswith("agent:ann held assignee from")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(59, "0 min"), (61, "1 min"), (3_600, "1 h 0 min"), (-5_400, "1 h 30 min"),
     (86_400 * 6 + 3_600 * 9 + 59, "6 d 9 h")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: int, text: str) -> None:
    assert duration(seconds) == text
