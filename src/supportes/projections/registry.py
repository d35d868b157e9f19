"""The projections the projector runs, in a stable order (the projector knows them only here)."""

from __future__ import annotations

from supportes.projections.base import Projection
from supportes.projections.case_view import CaseViewProjection
from supportes.projections.follow_ups import FollowUpsProjection
from supportes.projections.metrics import MetricsProjection
from supportes.projections.repeat_issues import RepeatIssuesProjection
from supportes.projections.responsibility import ResponsibilityProjection
from supportes.projections.timeline import TimelineProjection


def all_projections() -> list[Projection]:
    """One fresh instance of every projection, always in the same order."""
    return [
        CaseViewProjection(),
        TimelineProjection(),
        ResponsibilityProjection(),
        FollowUpsProjection(),
        RepeatIssuesProjection(),
        MetricsProjection(),
    ]
