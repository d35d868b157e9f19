-- Erasure in the projections (issue 16, design section 9). SubjectErased makes every projection
-- that stores personal text mask the erased customer's, finding the customer's cases in its own
-- tables (a rebuild builds one projection at a time):
-- * responsibility: responsibility_cases gains the case's customer, from CaseOpened (which the
--   projection now handles: one row per case). Rows projected before are filled from the event
--   index, and the cases it has no row for yet get theirs (as CaseOpened would make them), so
--   no rebuild is needed.
-- * case_timeline: a customer's cases are found by their CaseOpened rows (an index for that).
-- * case_view already has customer_id (and its index).

-- === responsibility ==========================================================================
ALTER TABLE proj.responsibility_cases ADD COLUMN IF NOT EXISTS customer_id text;
COMMENT ON COLUMN proj.responsibility_cases.customer_id IS
    'The case''s customer (CaseOpened): whose erasure masks the case''s notes.';
COMMENT ON TABLE proj.responsibility_cases IS
    'Internal (projection responsibility): current holders per case and the from_version of '
    'their open intervals (to end them, and to reopen them after a closed case is reopened), '
    'and the case''s customer (to mask its notes when the customer is erased).';

UPDATE proj.responsibility_cases AS r
SET customer_id = e.envelope->'payload'->>'customer_id'
FROM event_index.events AS e
WHERE e.aggregate_id = r.case_id AND e.version = 1 AND e.type = 'CaseOpened'
  AND r.customer_id IS NULL;

INSERT INTO proj.responsibility_cases (case_id, closed, version, customer_id)
SELECT e.aggregate_id, false, 1, e.envelope->'payload'->>'customer_id'
FROM event_index.events AS e
WHERE e.version = 1 AND e.type = 'CaseOpened'
ON CONFLICT (case_id) DO NOTHING;

CREATE INDEX IF NOT EXISTS responsibility_cases_customer
    ON proj.responsibility_cases (customer_id);

-- === case_timeline ===========================================================================
CREATE INDEX IF NOT EXISTS case_timeline_customer
    ON proj.case_timeline ((payload->>'customer_id')) WHERE type = 'CaseOpened';

COMMENT ON COLUMN proj.responsibility.note IS
    'Assignment reason, responsibility note, or escalation reason (and authority); [erased] once '
    'the case''s customer is erased.';
