"""Settling the heap: start-up's objects leave the collector's generations."""

from __future__ import annotations

import gc

from supportes.runtime import settle_heap


def test_freezes_what_survives_start_up() -> None:
    try:
        kept = [[n] for n in range(1000)]  # containers the collector tracks
        frozen = settle_heap()
        assert frozen == gc.get_freeze_count()
        assert frozen >= len(kept)
        assert gc.get_count()[2] == 0  # nothing left waiting for a full collection
    finally:
        gc.unfreeze()
