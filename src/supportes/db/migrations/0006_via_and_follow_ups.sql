-- Attested actors and follow-up cases (issue 15; design sections 3, 4 and 8).
-- `via` (the integration acting for an event's actor) reaches the timelines and the
-- responsibility trail; OpenCase's `follow_up_of` and `suggested_owner_id` reach case_view.
-- Every new column is NULL for what was projected before: events written before carry no `via`
-- and cases opened before name no follow-up, so existing rows are already right and nothing
-- needs a rebuild. Columns are appended (ADD COLUMN IF NOT EXISTS); a rebuild's shadow tables
-- copy them (LIKE ... INCLUDING ALL).

-- === case_view ===============================================================================
ALTER TABLE proj.case_view
    ADD COLUMN IF NOT EXISTS follow_up_of uuid,
    ADD COLUMN IF NOT EXISTS opening_suggested_owner_id text;
COMMENT ON COLUMN proj.case_view.follow_up_of IS
    'The earlier case this one follows up (OpenCase follow_up_of; channel intake sets it when a '
    'customer writes about a closed case). Null: not a follow-up.';
COMMENT ON COLUMN proj.case_view.opening_suggested_owner_id IS
    'The suggested owner named by OpenCase (channel intake: the owner of the case followed up).';
COMMENT ON COLUMN proj.case_view.suggested_owner_id IS
    'Reopened case: the owner when it was reopened. Otherwise the owner named by OpenCase '
    '(opening_suggested_owner_id) or, without one, the current owner of the customer''s previous '
    'case (previous_case_id), so a returning customer gets the same person.';

-- === case_timeline, root_cause_timeline =======================================================
ALTER TABLE proj.case_timeline
    ADD COLUMN IF NOT EXISTS via_id text,
    ADD COLUMN IF NOT EXISTS via_kind text;
COMMENT ON COLUMN proj.case_timeline.via_id IS
    'The integration that acted for the actor (the event''s via), e.g. integration:mail; '
    'null when the actor acted directly.';
COMMENT ON COLUMN proj.case_timeline.via_kind IS 'Kind of via: integration (null without via).';

ALTER TABLE proj.root_cause_timeline
    ADD COLUMN IF NOT EXISTS via_id text,
    ADD COLUMN IF NOT EXISTS via_kind text;
COMMENT ON COLUMN proj.root_cause_timeline.via_id IS
    'The integration that acted for the actor (the event''s via); null without one.';
COMMENT ON COLUMN proj.root_cause_timeline.via_kind IS
    'Kind of via: integration (null without via).';

-- === responsibility ==========================================================================
ALTER TABLE proj.responsibility
    ADD COLUMN IF NOT EXISTS opened_via_id text,
    ADD COLUMN IF NOT EXISTS opened_via_kind text,
    ADD COLUMN IF NOT EXISTS closed_via_id text,
    ADD COLUMN IF NOT EXISTS closed_via_kind text;
COMMENT ON COLUMN proj.responsibility.opened_via_id IS
    'The integration that made the hand-off for opened_by (its event''s via); null without one.';
COMMENT ON COLUMN proj.responsibility.opened_via_kind IS
    'Kind of opened_via_id: integration (null without via).';
COMMENT ON COLUMN proj.responsibility.closed_via_id IS
    'The integration that acted for closed_by (the ending event''s via); null without one.';
COMMENT ON COLUMN proj.responsibility.closed_via_kind IS
    'Kind of closed_via_id: integration (null without via).';
