"""The fault campaign's log checker: what a run left on a topic prefix, judged.

:mod:`.model` (inputs and the report), :mod:`.analysis` (pure checks), :mod:`.reader` (reading
a prefix's topics and the index), :mod:`.projections` (per-table checksums of ``proj.*``).
"""
