-- "Fix everything twice", enforced (issue 21; design section 1). A resolved case whose last fix
-- is a workaround or a known answer and that has no root cause is a `root_cause_needed` item
-- until a root cause is linked or a lead waives it (RootCauseWaived); a known answer given
-- SUPPORTES_KNOWN_ANSWER_THRESHOLD times within 30 days to cases without a root cause is one
-- `known_answer_recurring` item for the leads; `fix_twice_rate` and `known_answers_given` are
-- daily metrics (service and per agent).
-- Columns are appended (ADD COLUMN IF NOT EXISTS) with defaults that hold for every row
-- projected before; a rebuild's shadow tables copy them (LIKE ... INCLUDING ALL). The per-case
-- facts the new items need are filled from what is already projected and from the event index
-- below, so events from now on give the right items. The items and metrics of cases resolved
-- before this migration appear after one `supportes projections rebuild follow_ups metrics`
-- (zero downtime: readers keep the live tables until the swap).

-- === follow_up_queue (projection "follow_ups") ===============================================
ALTER TABLE proj.follow_up_queue DROP CONSTRAINT IF EXISTS follow_up_queue_kind_check;
ALTER TABLE proj.follow_up_queue ADD CONSTRAINT follow_up_queue_kind_check CHECK (kind IN (
    'acknowledge', 'update_customer', 'callback', 'follow_up', 'satisfaction',
    'preventive_action', 'root_cause_needed', 'known_answer_recurring'));
ALTER TABLE proj.follow_up_queue ADD COLUMN IF NOT EXISTS known_answer_id text;
COMMENT ON COLUMN proj.follow_up_queue.kind IS
    'acknowledge, update_customer, callback, follow_up, satisfaction, preventive_action, '
    'root_cause_needed (a resolved case fixed by a workaround or known answer, no root cause) or '
    'known_answer_recurring (a known answer given again and again to cases without a root cause).';
COMMENT ON COLUMN proj.follow_up_queue.subject_id IS
    'The case or root cause the item is about; for known_answer_recurring a UUID derived from the '
    'known answer id (uuid5 of the URL namespace and "supportes:known-answer:<id>").';
COMMENT ON COLUMN proj.follow_up_queue.item IS
    'Distinguishes items of one kind on one subject: the action id for preventive_action, the '
    'known answer id for known_answer_recurring, else the empty string.';
COMMENT ON COLUMN proj.follow_up_queue.owner_id IS
    'Who must do it: the case owner (callback: its agent; preventive_action: the action owner; '
    'known_answer_recurring: role:lead, the leads); null when the case has no owner yet.';
COMMENT ON COLUMN proj.follow_up_queue.known_answer_id IS
    'The known answer (known_answer_recurring; root_cause_needed: the last fix''s known answer, '
    'null for a workaround without one).';

ALTER TABLE proj.follow_up_cases
    ADD COLUMN IF NOT EXISTS fix_kind text,
    ADD COLUMN IF NOT EXISTS fix_known_answer_id text,
    ADD COLUMN IF NOT EXISTS root_cause_id uuid,
    ADD COLUMN IF NOT EXISTS root_cause_waived boolean NOT NULL DEFAULT false;
COMMENT ON TABLE proj.follow_up_cases IS
    'Internal (projection follow_ups): the case facts the queue items are computed from (with '
    'the last fix, the root cause linked and the waiver, for root_cause_needed and '
    'known_answer_recurring).';

CREATE TABLE IF NOT EXISTS proj.follow_up_known_answers (
    case_id         uuid        NOT NULL,
    version         integer     NOT NULL,
    known_answer_id text        NOT NULL,
    given_at        timestamptz NOT NULL,
    PRIMARY KEY (case_id, version)
);
CREATE INDEX IF NOT EXISTS follow_up_known_answers_answer
    ON proj.follow_up_known_answers (known_answer_id, given_at);
COMMENT ON TABLE proj.follow_up_known_answers IS
    'Internal (projection follow_ups): every known answer given (FixApplied with a '
    'known_answer_id), to find the ones given again and again to cases without a root cause.';

-- The facts of cases projected before (their items follow from the next event of the case).
UPDATE proj.follow_up_cases AS f
SET root_cause_id = v.root_cause_id
FROM proj.case_view AS v
WHERE v.case_id = f.case_id AND f.root_cause_id IS NULL;

UPDATE proj.follow_up_cases AS f
SET fix_kind = last.kind, fix_known_answer_id = last.known_answer_id
FROM (
    SELECT DISTINCT ON (aggregate_id) aggregate_id,
           envelope->'payload'->>'kind' AS kind,
           envelope->'payload'->>'known_answer_id' AS known_answer_id
    FROM event_index.events
    WHERE type = 'FixApplied'
    ORDER BY aggregate_id, version DESC
) AS last
WHERE last.aggregate_id = f.case_id AND f.fix_kind IS NULL;

INSERT INTO proj.follow_up_known_answers (case_id, version, known_answer_id, given_at)
SELECT e.aggregate_id, e.version, e.envelope->'payload'->>'known_answer_id',
       (e.envelope->>'occurred_at')::timestamptz
FROM event_index.events AS e
JOIN proj.follow_up_cases AS f ON f.case_id = e.aggregate_id
WHERE e.type = 'FixApplied' AND e.envelope->'payload'->>'known_answer_id' IS NOT NULL
ON CONFLICT (case_id, version) DO NOTHING;

-- === metrics (projection "metrics") ==========================================================
ALTER TABLE proj.service_metrics_daily
    ADD COLUMN IF NOT EXISTS root_cause_needed integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS fixed_twice integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS fix_twice_rate numeric,
    ADD COLUMN IF NOT EXISTS known_answers_given integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN proj.service_metrics_daily.root_cause_needed IS
    'Cases that needed a root cause, on the day of their first resolution whose last fix was a '
    'workaround or a known answer.';
COMMENT ON COLUMN proj.service_metrics_daily.fixed_twice IS
    'Of root_cause_needed: cases with a root cause linked or waived by that resolution plus '
    'SUPPORTES_SLA_ROOT_CAUSE (as of now: a case still inside its service level counts once '
    'settled).';
COMMENT ON COLUMN proj.service_metrics_daily.fix_twice_rate IS
    'fixed_twice / root_cause_needed (4 decimals; null when none needed one).';
COMMENT ON COLUMN proj.service_metrics_daily.known_answers_given IS
    'Known answers given (FixApplied with a known_answer_id).';

ALTER TABLE proj.agent_metrics_daily
    ADD COLUMN IF NOT EXISTS root_cause_needed integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS fixed_twice integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS fix_twice_rate numeric,
    ADD COLUMN IF NOT EXISTS known_answers_given integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN proj.agent_metrics_daily.root_cause_needed IS
    'Cases that needed a root cause, credited to the owner who resolved them (that day).';
COMMENT ON COLUMN proj.agent_metrics_daily.fixed_twice IS
    'Of root_cause_needed: root cause linked or waived within SUPPORTES_SLA_ROOT_CAUSE.';
COMMENT ON COLUMN proj.agent_metrics_daily.fix_twice_rate IS
    'fixed_twice / root_cause_needed (4 decimals; null when none needed one).';
COMMENT ON COLUMN proj.agent_metrics_daily.known_answers_given IS
    'Known answers the agent gave (the actor of FixApplied with a known_answer_id).';

ALTER TABLE proj.metrics_cases
    ADD COLUMN IF NOT EXISTS fix_needs_root_cause boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS root_cause_linked boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS root_cause_waived boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS root_cause_needed_at timestamptz,
    ADD COLUMN IF NOT EXISTS root_cause_needed_day date,
    ADD COLUMN IF NOT EXISTS root_cause_needed_owner_id text,
    ADD COLUMN IF NOT EXISTS root_cause_settled_at timestamptz,
    ADD COLUMN IF NOT EXISTS fixed_twice boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS metrics_cases_root_cause_needed_day
    ON proj.metrics_cases (root_cause_needed_day);
