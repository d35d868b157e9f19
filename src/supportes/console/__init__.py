"""The web console (``/console``): cases, who held them when, the follow-up queue and the
repeat issues as pages and charts, for agents, leads, auditors and admins. Served by the API
process over the same service layer the CLI uses (``supportes.ops``) and the same policy."""
