"""Read models built from the event log into PostgreSQL (schema ``proj``, migration 0003).

The projector knows the projections only through :func:`registry.all_projections`. Each one
owns its tables (public ones first, then ``<projection>_*`` internal state):

========================  ==============================================================
projection                tables
========================  ==============================================================
``case_view``             ``case_view``
``timeline``              ``case_timeline``, ``root_cause_timeline``
``responsibility``        ``responsibility``, ``responsibility_cases``
``follow_ups``            ``follow_up_queue``, ``follow_up_cases``
``repeat_issues``         ``repeat_issues_by_root_cause``, ``repeat_issues_by_topic``,
                          ``repeat_contacts_by_customer``, ``known_answers``,
                          ``repeat_issues_cases``, ``repeat_rc_links``,
                          ``repeat_issues_topic_daily``
``metrics``               ``service_metrics_daily``, ``agent_metrics_daily``,
                          ``metrics_cases``
========================  ==============================================================

Every ``apply`` is set-based: one read per table of the aggregates the batch touches, a fold
in Python with small per-event-type functions, and COPY (straight, or into a temp staging table
plus one ``INSERT ... ON CONFLICT``/``UPDATE``) to write. Figures that depend on several
aggregates (root-cause ``cases_open``, a customer's previous case, daily medians and rates,
the 30-day topic window) are recomputed in SQL for what the batch touched, so every
interleaving of aggregates across batches and partitions gives the same tables. Each module's
docstring states its interpretations of the design.

``SubjectErased`` (:mod:`._erasure`): ``case_view``, ``timeline`` and ``responsibility``, the
projections that store personal text, replace the erased customer's by its masks, as a rebuild
after the erasure gives them; the others store none.
"""
