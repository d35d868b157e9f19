"""Spreading projections over the projector's PostgreSQL connections ("lanes")."""

from __future__ import annotations

from collections.abc import Sequence


def spread(weights: Sequence[int], lanes: int) -> list[list[int]]:
    """Indices of ``weights`` in at most ``lanes`` groups of near-equal total weight.

    Greedy: heaviest first, each to the lightest group so far (ties: the earlier index, the
    earlier group), so the result is deterministic. Each group is sorted, and none is empty
    unless there are no weights at all (then one empty group).
    """
    if lanes < 1:
        raise ValueError("lanes must be at least 1")
    groups: list[list[int]] = [[] for _ in range(max(1, min(lanes, len(weights))))]
    totals = [0] * len(groups)
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        lightest = min(range(len(groups)), key=lambda g: (totals[g], g))
        groups[lightest].append(index)
        totals[lightest] += weights[index]
    return [sorted(group) for group in groups]
