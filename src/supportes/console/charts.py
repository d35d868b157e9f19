"""Vega-Lite specs of the console's charts, built from the same rows the tables show.

Pure functions (no I/O): rows in, a JSON-ready spec out. The browser draws them with the
vendored Vega-Lite (SVG renderer, CSP-safe expression interpreter). Every spec carries a
``description``: Vega puts it on the SVG as its accessible name.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from supportes.ops.responsibility_audit import ROLES, Interval

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
WIDTH = 640
TEXT = "#1f2933"  # axis and legend text: 12.6:1 on white
CONFIG: dict[str, Any] = {
    "font": "system-ui, sans-serif",
    "axis": {"labelColor": TEXT, "titleColor": TEXT, "labelFontSize": 12, "titleFontSize": 12},
    "legend": {"labelColor": TEXT, "titleColor": TEXT, "labelFontSize": 12},
    "title": {"color": TEXT, "fontSize": 14},
    "view": {"stroke": None},
}


def _spec(description: str, **parts: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "description": description,
        "width": WIDTH,
        "config": CONFIG,
        **parts,
    }


def responsibility_chart(trail: Sequence[Interval], now: datetime) -> dict[str, Any]:
    """One lane per role (assignee, responsible, escalation), one bar per holder from when to
    when (an open interval runs to ``now``), a tick at every hand-off."""
    bars = [
        {
            "role": interval.role,
            "agent": interval.agent_id,
            "from": interval.from_at.isoformat(),
            "to": (interval.to_at or now).isoformat(),
            "held": "until now" if interval.to_at is None else "ended",
            "by": interval.opened_by_text,
            "label": f"{interval.agent_id} held {interval.role} from"
            f" {interval.from_at.isoformat()} to"
            f" {'now' if interval.to_at is None else interval.to_at.isoformat()}",
        }
        for interval in trail
    ]
    hand_offs = [
        {
            "role": later.role,
            "at": later.from_at.isoformat(),
            "to": later.agent_id,
            "label": f"{later.role} handed from {earlier.agent_id} to {later.agent_id}"
            f" at {later.from_at.isoformat()}",
        }
        for earlier, later in _consecutive(trail)
    ]
    lanes = {"field": "role", "type": "nominal", "sort": list(ROLES), "title": None}
    layers: list[dict[str, Any]] = [
        {
            "name": "held",  # Vega's SVG: the bars are the paths of g.held_marks
            "data": {"values": bars},
            "mark": {"type": "bar", "cornerRadius": 2},
            "encoding": {
                "y": lanes,
                "x": {"field": "from", "type": "temporal", "title": "time (UTC)"},
                "x2": {"field": "to"},
                "color": {"field": "agent", "type": "nominal", "title": "held by"},
                "description": {"field": "label"},  # each bar's accessible name
            },
        }
    ]
    if hand_offs:  # an empty mark group would be an unlabelled graphic
        layers.append(
            {
                "name": "handoffs",
                "data": {"values": hand_offs},
                "mark": {"type": "tick", "color": "#b42318", "thickness": 3},
                "encoding": {
                    "y": lanes,
                    "x": {"field": "at", "type": "temporal"},
                    "description": {"field": "label"},
                },
            }
        )
    return _spec(
        f"Who held the case: {len(bars)} intervals over {len(ROLES)} roles,"
        f" {len(hand_offs)} hand-offs",
        height=36 * len(ROLES),
        layer=layers,
    )


def _consecutive(trail: Sequence[Interval]) -> list[tuple[Interval, Interval]]:
    """Pairs of intervals of one role where the second took over from the first."""
    pairs: list[tuple[Interval, Interval]] = []
    by_role: dict[str, list[Interval]] = {}
    for interval in trail:
        by_role.setdefault(interval.role, []).append(interval)
    for intervals in by_role.values():
        ordered = sorted(intervals, key=lambda i: (i.from_at, i.from_version))
        pairs.extend(itertools.pairwise(ordered))
    return pairs


def bar_chart(
    rows: Sequence[Mapping[str, Any]],
    label: str,
    value: str,
    *,
    description: str,
    value_title: str,
) -> dict[str, Any]:
    """One horizontal bar per row: ``label`` (text) against ``value`` (a count), largest
    first."""
    values = [{"label": str(r[label] or "(none)"), "value": int(r[value] or 0)} for r in rows]
    return _spec(
        description,
        height={"step": 22},
        data={"values": values},
        name="ranked",
        mark={"type": "bar", "color": "#2563eb"},
        encoding={
            "y": {
                "field": "label",
                "type": "nominal",
                "sort": "-x",
                "title": None,
                "axis": {"labelLimit": 260},
            },
            "x": {
                "field": "value",
                "type": "quantitative",
                "title": value_title,
                "axis": {"tickMinStep": 1, "format": "d"},  # counts: whole numbers
            },
        },
    )


def line_chart(
    days: Sequence[Mapping[str, Any]],
    field: str,
    *,
    description: str,
    title: str,
    scale: float = 1.0,
    reference: float | None = None,
    reference_label: str | None = None,
) -> dict[str, Any]:
    """``field`` per day as a line with a point per day (days without a value are left out),
    divided by ``scale``, and a dashed rule at the service level ``reference`` when given."""
    points = [
        {"day": str(day["day"]), "value": float(day[field]) / scale}
        for day in days
        if day.get(field) is not None
    ]
    layers: list[dict[str, Any]] = [
        {
            "name": "daily",
            "data": {"values": points},
            "mark": {"type": "line", "point": True, "color": "#2563eb"},
            "encoding": {
                "x": {"field": "day", "type": "temporal", "title": "day (UTC)"},
                "y": {"field": "value", "type": "quantitative", "title": title},
            },
        }
    ]
    if reference is not None:
        layers.append(
            {
                "name": "service_level",
                "data": {"values": [{"level": reference, "label": reference_label or ""}]},
                "mark": {"type": "rule", "color": "#b42318", "strokeDash": [6, 4]},
                "encoding": {"y": {"field": "level", "type": "quantitative"}},
            }
        )
    return _spec(description, height=180, layer=layers)
