-- Projection tables (design section 5), all in schema proj and all built only from the events
-- topic: no now(), no serials; every value comes from an event or a configured service level.
-- Each table belongs to exactly one projection (src/supportes/projections/registry.py); tables
-- named <projection>_* without a COMMENT ON COLUMN are that projection's internal state.
-- Times are UTC instants (timestamptz); days are UTC dates.

-- === case_view (projection "case_view") ======================================================
CREATE TABLE IF NOT EXISTS proj.case_view (
    case_id                  uuid        PRIMARY KEY,
    reference                text        NOT NULL,
    customer_id              text        NOT NULL,
    channel                  text        NOT NULL,
    subject                  text        NOT NULL,
    description              text        NOT NULL,
    category                 text,
    product                  text,
    tags                     text[]      NOT NULL,
    priority                 text        NOT NULL,
    status                   text        NOT NULL
        CHECK (status IN ('new', 'acknowledged', 'assigned', 'resolved', 'closed')),
    owner_id                 text,
    responsible_id           text,
    suggested_owner_id       text,
    previous_case_id         uuid,
    owners                   text[]      NOT NULL,
    distinct_owners          integer     NOT NULL,
    escalations              integer     NOT NULL,
    escalated                boolean     NOT NULL,
    opened_at                timestamptz NOT NULL,
    acknowledged_at          timestamptz,
    first_resolved_at        timestamptz,
    resolved_at              timestamptz,
    closed_at                timestamptz,
    last_reopened_at         timestamptz,
    reopen_count             integer     NOT NULL,
    inbound_contacts         integer     NOT NULL,
    outbound_contacts        integer     NOT NULL,
    resolution               text,
    resolved_by_id           text,
    follow_up_status         text        NOT NULL,
    follow_up_due_at         timestamptz,
    callback_due_at          timestamptz,
    callback_agent_id        text,
    fixes_applied            integer     NOT NULL,
    known_answers_given      integer     NOT NULL,
    root_cause_id            uuid,
    csat_score               integer,
    csat_owner_id            text,
    rated_at                 timestamptz,
    suggestions              integer     NOT NULL,
    first_contact_resolution boolean     NOT NULL,
    last_customer_update_at  timestamptz,
    updated_at               timestamptz NOT NULL,
    version                  integer     NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS case_view_reference ON proj.case_view (reference);
CREATE INDEX IF NOT EXISTS case_view_customer ON proj.case_view (customer_id, opened_at, case_id);
CREATE INDEX IF NOT EXISTS case_view_owner_status ON proj.case_view (owner_id, status);

COMMENT ON TABLE proj.case_view IS
    'One row per case: its current state as folded from the case''s events.';
COMMENT ON COLUMN proj.case_view.case_id IS 'The case (aggregate) id.';
COMMENT ON COLUMN proj.case_view.reference IS
    'Human reference given to the customer (SR-XXXX-XXXX-XXXX); not unique by construction.';
COMMENT ON COLUMN proj.case_view.customer_id IS 'The customer who opened the case.';
COMMENT ON COLUMN proj.case_view.channel IS 'Channel of the first contact.';
COMMENT ON COLUMN proj.case_view.subject IS 'Subject given at opening.';
COMMENT ON COLUMN proj.case_view.description IS 'The full description given at opening.';
COMMENT ON COLUMN proj.case_view.category IS 'Category given at opening (null: none).';
COMMENT ON COLUMN proj.case_view.product IS 'Product given at opening (null: none).';
COMMENT ON COLUMN proj.case_view.tags IS 'Tags given at opening.';
COMMENT ON COLUMN proj.case_view.priority IS 'low, normal, high or urgent.';
COMMENT ON COLUMN proj.case_view.status IS
    'new, acknowledged, assigned, resolved or closed (reopening returns to assigned).';
COMMENT ON COLUMN proj.case_view.owner_id IS 'Current owner (assignee); never removed once set.';
COMMENT ON COLUMN proj.case_view.responsible_id IS
    'Agent who took responsibility last, or to whom the case was last escalated.';
COMMENT ON COLUMN proj.case_view.suggested_owner_id IS
    'Reopened case: the owner when it was reopened. Otherwise: the current owner of the '
    'customer''s previous case (previous_case_id), so a returning customer gets the same person.';
COMMENT ON COLUMN proj.case_view.previous_case_id IS
    'The same customer''s case opened just before this one (by opened_at, then case_id).';
COMMENT ON COLUMN proj.case_view.owners IS 'Every agent who owned the case, in order of first ownership.';
COMMENT ON COLUMN proj.case_view.distinct_owners IS 'Number of different owners the case has had.';
COMMENT ON COLUMN proj.case_view.escalations IS 'Number of escalations.';
COMMENT ON COLUMN proj.case_view.escalated IS 'Whether the case was ever escalated.';
COMMENT ON COLUMN proj.case_view.opened_at IS 'When the case was opened.';
COMMENT ON COLUMN proj.case_view.acknowledged_at IS 'When the case was acknowledged to the customer.';
COMMENT ON COLUMN proj.case_view.first_resolved_at IS 'First resolution (kept across reopenings).';
COMMENT ON COLUMN proj.case_view.resolved_at IS 'Current resolution (cleared by a reopening).';
COMMENT ON COLUMN proj.case_view.closed_at IS 'When closed (cleared by a reopening).';
COMMENT ON COLUMN proj.case_view.last_reopened_at IS 'Last reopening.';
COMMENT ON COLUMN proj.case_view.reopen_count IS 'Number of reopenings.';
COMMENT ON COLUMN proj.case_view.inbound_contacts IS
    'Inbound contacts, the opening contact included.';
COMMENT ON COLUMN proj.case_view.outbound_contacts IS 'Outbound contacts recorded.';
COMMENT ON COLUMN proj.case_view.resolution IS 'Text of the last resolution.';
COMMENT ON COLUMN proj.case_view.resolved_by_id IS 'Owner credited with the last resolution.';
COMMENT ON COLUMN proj.case_view.follow_up_status IS
    'not_due, pending, confirmed, no_response or waived (a reopening resets it to not_due).';
COMMENT ON COLUMN proj.case_view.follow_up_due_at IS 'Scheduled follow-up time, if scheduled.';
COMMENT ON COLUMN proj.case_view.callback_due_at IS 'Due time of the pending callback.';
COMMENT ON COLUMN proj.case_view.callback_agent_id IS 'Agent of the pending callback.';
COMMENT ON COLUMN proj.case_view.fixes_applied IS 'Number of quick fixes applied.';
COMMENT ON COLUMN proj.case_view.known_answers_given IS 'Fixes that gave a known answer again.';
COMMENT ON COLUMN proj.case_view.root_cause_id IS 'Root cause the case is linked to (latest link).';
COMMENT ON COLUMN proj.case_view.csat_score IS 'Latest satisfaction score (1-5).';
COMMENT ON COLUMN proj.case_view.csat_owner_id IS 'Owner credited with the latest score.';
COMMENT ON COLUMN proj.case_view.rated_at IS 'When the latest score was given.';
COMMENT ON COLUMN proj.case_view.suggestions IS 'Improvement suggestions noted.';
COMMENT ON COLUMN proj.case_view.first_contact_resolution IS
    'Resolved or closed, exactly one inbound contact, never reopened, never escalated.';
COMMENT ON COLUMN proj.case_view.last_customer_update_at IS
    'Last acknowledgement, customer update, completed callback or outbound contact.';
COMMENT ON COLUMN proj.case_view.updated_at IS 'Time of the last event applied.';
COMMENT ON COLUMN proj.case_view.version IS 'Case version after the last event applied.';

-- === case_timeline, root_cause_timeline (projection "timeline") ==============================
CREATE TABLE IF NOT EXISTS proj.case_timeline (
    case_id        uuid        NOT NULL,
    version        integer     NOT NULL,
    event_id       uuid        NOT NULL,
    type           text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    actor_id       text        NOT NULL,
    actor_kind     text        NOT NULL,
    summary        text        NOT NULL,
    payload        jsonb       NOT NULL,
    command_id     uuid,
    correlation_id uuid,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    PRIMARY KEY (case_id, version)
);
COMMENT ON TABLE proj.case_timeline IS
    'One row per case event, in version order per case: the complete history of every case.';
COMMENT ON COLUMN proj.case_timeline.case_id IS 'The case.';
COMMENT ON COLUMN proj.case_timeline.version IS 'Case version after the event (1 = opened).';
COMMENT ON COLUMN proj.case_timeline.event_id IS 'The event id.';
COMMENT ON COLUMN proj.case_timeline.type IS 'Event wire type, e.g. CaseEscalated.';
COMMENT ON COLUMN proj.case_timeline.occurred_at IS 'When it happened (the command''s issued_at).';
COMMENT ON COLUMN proj.case_timeline.actor_id IS 'Who did it (agent:..., customer:..., system:...).';
COMMENT ON COLUMN proj.case_timeline.actor_kind IS 'customer, agent or system.';
COMMENT ON COLUMN proj.case_timeline.summary IS
    'One human line, e.g. "Escalated to agent:lead: needs refund authority" (long texts cut).';
COMMENT ON COLUMN proj.case_timeline.payload IS 'The event payload, complete.';
COMMENT ON COLUMN proj.case_timeline.command_id IS 'The command that caused the event.';
COMMENT ON COLUMN proj.case_timeline.correlation_id IS 'Correlation id of that command.';
COMMENT ON COLUMN proj.case_timeline.partition IS 'Partition of the events topic holding it.';
COMMENT ON COLUMN proj.case_timeline."offset" IS 'Offset of the event in that partition.';

CREATE TABLE IF NOT EXISTS proj.root_cause_timeline (
    root_cause_id  uuid        NOT NULL,
    version        integer     NOT NULL,
    event_id       uuid        NOT NULL,
    type           text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    actor_id       text        NOT NULL,
    actor_kind     text        NOT NULL,
    summary        text        NOT NULL,
    payload        jsonb       NOT NULL,
    command_id     uuid,
    correlation_id uuid,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    PRIMARY KEY (root_cause_id, version)
);
COMMENT ON TABLE proj.root_cause_timeline IS
    'One row per root-cause event (same columns as case_timeline, keyed by root_cause_id).';
COMMENT ON COLUMN proj.root_cause_timeline.root_cause_id IS 'The root cause.';
COMMENT ON COLUMN proj.root_cause_timeline.version IS 'Root-cause version after the event.';
COMMENT ON COLUMN proj.root_cause_timeline.event_id IS 'The event id.';
COMMENT ON COLUMN proj.root_cause_timeline.type IS 'Event wire type, e.g. FixVerified.';
COMMENT ON COLUMN proj.root_cause_timeline.occurred_at IS 'When it happened.';
COMMENT ON COLUMN proj.root_cause_timeline.actor_id IS 'Who did it.';
COMMENT ON COLUMN proj.root_cause_timeline.actor_kind IS 'customer, agent or system.';
COMMENT ON COLUMN proj.root_cause_timeline.summary IS 'One human line describing the event.';
COMMENT ON COLUMN proj.root_cause_timeline.payload IS 'The event payload, complete.';
COMMENT ON COLUMN proj.root_cause_timeline.command_id IS 'The command that caused the event.';
COMMENT ON COLUMN proj.root_cause_timeline.correlation_id IS 'Correlation id of that command.';
COMMENT ON COLUMN proj.root_cause_timeline.partition IS 'Partition of the events topic holding it.';
COMMENT ON COLUMN proj.root_cause_timeline."offset" IS 'Offset of the event in its partition.';

-- === responsibility (projection "responsibility") ============================================
CREATE TABLE IF NOT EXISTS proj.responsibility (
    case_id          uuid        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('assignee', 'responsible', 'escalation')),
    agent_id         text        NOT NULL,
    from_at          timestamptz NOT NULL,
    from_version     integer     NOT NULL,
    to_at            timestamptz,
    to_version       integer,
    opened_by        text        NOT NULL,
    opened_by_event  text        NOT NULL,
    closed_by        text,
    closed_by_event  text,
    note             text,
    PRIMARY KEY (case_id, from_version, role)
) WITH (fillfactor = 90);
CREATE INDEX IF NOT EXISTS responsibility_case_from ON proj.responsibility (case_id, from_at);
CREATE INDEX IF NOT EXISTS responsibility_agent_from ON proj.responsibility (agent_id, from_at);
COMMENT ON TABLE proj.responsibility IS
    'Responsibility trail: who held which role on a case, from when to when. Intervals are '
    'half-open [from_at, to_at). Responsible at T: the responsible or escalation interval '
    'covering T, else the assignee interval covering T. Closing a case ends every open interval; '
    'reopening a closed case opens them again for the same agents.';
COMMENT ON COLUMN proj.responsibility.case_id IS 'The case.';
COMMENT ON COLUMN proj.responsibility.role IS
    'assignee (the owner), responsible (took responsibility) or escalation (responsible by '
    'escalation). At most one open assignee and one open responsible-or-escalation interval.';
COMMENT ON COLUMN proj.responsibility.agent_id IS 'The agent holding the role.';
COMMENT ON COLUMN proj.responsibility.from_at IS 'Start (time of the event that opened it).';
COMMENT ON COLUMN proj.responsibility.from_version IS 'Case version of that event.';
COMMENT ON COLUMN proj.responsibility.to_at IS 'End (exclusive); null while current.';
COMMENT ON COLUMN proj.responsibility.to_version IS 'Case version of the event that ended it.';
COMMENT ON COLUMN proj.responsibility.opened_by IS 'Actor who made the hand-off.';
COMMENT ON COLUMN proj.responsibility.opened_by_event IS 'Event type that opened the interval.';
COMMENT ON COLUMN proj.responsibility.closed_by IS 'Actor whose event ended the interval.';
COMMENT ON COLUMN proj.responsibility.closed_by_event IS 'Event type that ended the interval.';
COMMENT ON COLUMN proj.responsibility.note IS
    'Assignment reason, responsibility note, or escalation reason (and authority).';

CREATE TABLE IF NOT EXISTS proj.responsibility_cases (
    case_id            uuid    PRIMARY KEY,
    owner_id           text,
    owner_since        integer,
    responsible_id     text,
    responsible_role   text,
    responsible_since  integer,
    closed             boolean NOT NULL,
    version            integer NOT NULL
) WITH (fillfactor = 80);
COMMENT ON TABLE proj.responsibility_cases IS
    'Internal (projection responsibility): current holders per case and the from_version of '
    'their open intervals (to end them, and to reopen them after a closed case is reopened).';

-- === follow_up_queue (projection "follow_ups") ===============================================
CREATE TABLE IF NOT EXISTS proj.follow_up_queue (
    subject_id     uuid        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('acknowledge', 'update_customer',
                       'callback', 'follow_up', 'satisfaction', 'preventive_action')),
    item           text        NOT NULL,
    case_id        uuid,
    root_cause_id  uuid,
    action_id      text,
    owner_id       text,
    due_at         timestamptz NOT NULL,
    since_at       timestamptz NOT NULL,
    priority       text,
    reference      text,
    customer_id    text,
    detail         text,
    PRIMARY KEY (subject_id, kind, item)
);
CREATE INDEX IF NOT EXISTS follow_up_queue_due ON proj.follow_up_queue (due_at);
CREATE INDEX IF NOT EXISTS follow_up_queue_owner_due ON proj.follow_up_queue (owner_id, due_at);
COMMENT ON TABLE proj.follow_up_queue IS
    'Open work items; an item leaves when the work is done. Overdue at T: due_at <= T.';
COMMENT ON COLUMN proj.follow_up_queue.subject_id IS 'The case or root cause the item is about.';
COMMENT ON COLUMN proj.follow_up_queue.kind IS
    'acknowledge, update_customer, callback, follow_up, satisfaction or preventive_action.';
COMMENT ON COLUMN proj.follow_up_queue.item IS
    'Distinguishes items of one kind on one subject: the action id for preventive_action, '
    'else the empty string.';
COMMENT ON COLUMN proj.follow_up_queue.case_id IS 'The case (case items).';
COMMENT ON COLUMN proj.follow_up_queue.root_cause_id IS 'The root cause (preventive_action).';
COMMENT ON COLUMN proj.follow_up_queue.action_id IS 'The preventive action (preventive_action).';
COMMENT ON COLUMN proj.follow_up_queue.owner_id IS
    'Who must do it: the case owner (callback: its agent; preventive_action: the action owner); '
    'null when the case has no owner yet.';
COMMENT ON COLUMN proj.follow_up_queue.due_at IS 'When the work falls due.';
COMMENT ON COLUMN proj.follow_up_queue.since_at IS 'When the obligation arose.';
COMMENT ON COLUMN proj.follow_up_queue.priority IS 'Case priority (case items).';
COMMENT ON COLUMN proj.follow_up_queue.reference IS 'Case reference (case items).';
COMMENT ON COLUMN proj.follow_up_queue.customer_id IS 'Customer (case items).';
COMMENT ON COLUMN proj.follow_up_queue.detail IS 'Short description of the work.';

CREATE TABLE IF NOT EXISTS proj.follow_up_cases (
    case_id                 uuid        PRIMARY KEY,
    reference               text        NOT NULL,
    customer_id             text        NOT NULL,
    priority                text        NOT NULL,
    status                  text        NOT NULL,
    owner_id                text,
    opened_at               timestamptz NOT NULL,
    acknowledged_at         timestamptz,
    update_base_at          timestamptz NOT NULL,
    callback_due_at         timestamptz,
    callback_agent_id       text,
    callback_since_at       timestamptz,
    resolved_at             timestamptz,
    follow_up_pending       boolean     NOT NULL,
    follow_up_due_at        timestamptz,
    closed_at               timestamptz,
    rated                   boolean     NOT NULL
) WITH (fillfactor = 80);
COMMENT ON TABLE proj.follow_up_cases IS
    'Internal (projection follow_ups): the case facts the queue items are computed from.';

-- === repeat issues (projection "repeat_issues") ==============================================
CREATE TABLE IF NOT EXISTS proj.repeat_issues_by_root_cause (
    root_cause_id            uuid        PRIMARY KEY,
    title                    text        NOT NULL,
    description              text        NOT NULL,
    category                 text,
    product                  text,
    status                   text        NOT NULL CHECK (status IN ('open', 'verified', 'reopened')),
    identified_at            timestamptz NOT NULL,
    verified_at              timestamptz,
    reopen_count             integer     NOT NULL,
    cases_total              integer     NOT NULL,
    cases_open               integer     NOT NULL,
    cases_after_verification integer     NOT NULL,
    first_seen_at            timestamptz,
    last_seen_at             timestamptz,
    preventive_actions       integer     NOT NULL,
    open_preventive_actions  integer     NOT NULL,
    open_action_ids          text[]      NOT NULL,
    updated_at               timestamptz NOT NULL,
    version                  integer     NOT NULL
) WITH (fillfactor = 80);
COMMENT ON TABLE proj.repeat_issues_by_root_cause IS
    'One row per root cause: the cases it caused and the state of its "fix it twice" actions.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.root_cause_id IS 'The root cause.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.title IS 'Title given when identified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.description IS 'Description given when identified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.category IS 'Category given when identified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.product IS 'Product given when identified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.status IS 'open, verified or reopened.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.identified_at IS 'When identified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.verified_at IS 'Last fix verification.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.reopen_count IS
    'Reopenings (recurrences included).';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.cases_total IS 'Distinct cases attached.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.cases_open IS
    'Attached cases currently new, acknowledged or assigned (not resolved or closed); a case '
    'whose own events have not been projected yet does not count.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.cases_after_verification IS
    'Recurrences: distinct cases attached while the fix was verified.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.first_seen_at IS 'First case attachment.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.last_seen_at IS 'Last case attachment.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.preventive_actions IS 'Actions planned.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.open_preventive_actions IS
    'Actions planned and not completed.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.open_action_ids IS
    'Ids of the open actions, in planning order.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.updated_at IS
    'Time of the last root-cause event applied.';
COMMENT ON COLUMN proj.repeat_issues_by_root_cause.version IS
    'Root-cause version after the last event applied.';

CREATE TABLE IF NOT EXISTS proj.repeat_issues_by_topic (
    topic_key                text        PRIMARY KEY,
    category                 text,
    product                  text,
    cases_total              integer     NOT NULL,
    cases_last_30_days       integer     NOT NULL,
    window_end_day           date,
    known_answers_given      integer     NOT NULL,
    cases_without_root_cause integer     NOT NULL,
    reopenings               integer     NOT NULL,
    first_opened_at          timestamptz,
    last_opened_at           timestamptz
);
CREATE INDEX IF NOT EXISTS repeat_issues_by_topic_category
    ON proj.repeat_issues_by_topic (category, product);
COMMENT ON TABLE proj.repeat_issues_by_topic IS
    'One row per category x product given at opening (null: not given). Daily counts for other '
    'windows: repeat_issues_topic_daily.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.topic_key IS
    'Key: the JSON array [category, product] (nulls included), e.g. ["invoice",null].';
COMMENT ON COLUMN proj.repeat_issues_by_topic.category IS 'Category (null: none given).';
COMMENT ON COLUMN proj.repeat_issues_by_topic.product IS 'Product (null: none given).';
COMMENT ON COLUMN proj.repeat_issues_by_topic.cases_total IS 'Cases opened.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.cases_last_30_days IS
    'Cases opened in the 30 UTC days ending on window_end_day (inclusive).';
COMMENT ON COLUMN proj.repeat_issues_by_topic.window_end_day IS
    'Day of the latest case opening over ALL topics seen by the projection (deterministic: '
    'the log, not the clock, moves the window).';
COMMENT ON COLUMN proj.repeat_issues_by_topic.known_answers_given IS
    'Fixes on these cases that gave a known answer again.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.cases_without_root_cause IS
    'Cases never linked to a root cause.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.reopenings IS 'Reopenings of these cases.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.first_opened_at IS 'First case opening.';
COMMENT ON COLUMN proj.repeat_issues_by_topic.last_opened_at IS 'Latest case opening.';

CREATE TABLE IF NOT EXISTS proj.repeat_issues_topic_daily (
    topic_key text    NOT NULL,
    category  text,
    product   text,
    day       date    NOT NULL,
    cases     integer NOT NULL,
    PRIMARY KEY (topic_key, day)
);
CREATE INDEX IF NOT EXISTS repeat_issues_topic_daily_day ON proj.repeat_issues_topic_daily (day);
COMMENT ON TABLE proj.repeat_issues_topic_daily IS
    'Cases opened per category x product and UTC day (readable: sum any window).';
COMMENT ON COLUMN proj.repeat_issues_topic_daily.category IS 'Category (null: none given).';
COMMENT ON COLUMN proj.repeat_issues_topic_daily.product IS 'Product (null: none given).';
COMMENT ON COLUMN proj.repeat_issues_topic_daily.topic_key IS 'As repeat_issues_by_topic.topic_key.';
COMMENT ON COLUMN proj.repeat_issues_topic_daily.day IS 'UTC day of opening.';
COMMENT ON COLUMN proj.repeat_issues_topic_daily.cases IS 'Cases opened that day.';

CREATE TABLE IF NOT EXISTS proj.repeat_contacts_by_customer (
    customer_id      text        PRIMARY KEY,
    cases            integer     NOT NULL,
    reopenings       integer     NOT NULL,
    inbound_contacts integer     NOT NULL,
    first_contact_at timestamptz,
    last_contact_at  timestamptz
);
COMMENT ON TABLE proj.repeat_contacts_by_customer IS 'One row per customer who opened a case.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.customer_id IS 'The customer.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.cases IS 'Cases opened.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.reopenings IS 'Reopenings of those cases.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.inbound_contacts IS
    'Inbound contacts on those cases, openings included.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.first_contact_at IS 'First inbound contact.';
COMMENT ON COLUMN proj.repeat_contacts_by_customer.last_contact_at IS 'Latest inbound contact.';

CREATE TABLE IF NOT EXISTS proj.known_answers (
    known_answer_id text        PRIMARY KEY,
    times_given     integer     NOT NULL,
    cases           integer     NOT NULL,
    first_given_at  timestamptz NOT NULL,
    last_given_at   timestamptz NOT NULL
);
COMMENT ON TABLE proj.known_answers IS
    'One row per known answer given again (ApplyFix with a known_answer_id): rank by times_given.';
COMMENT ON COLUMN proj.known_answers.known_answer_id IS 'The known answer (ApplyFix.known_answer_id).';
COMMENT ON COLUMN proj.known_answers.times_given IS 'Fixes that gave it.';
COMMENT ON COLUMN proj.known_answers.cases IS 'Distinct cases it was given on.';
COMMENT ON COLUMN proj.known_answers.first_given_at IS 'First time given.';
COMMENT ON COLUMN proj.known_answers.last_given_at IS 'Latest time given.';

CREATE TABLE IF NOT EXISTS proj.repeat_issues_cases (
    case_id       uuid PRIMARY KEY,
    customer_id   text NOT NULL,
    category      text,
    product       text,
    status        text NOT NULL,
    root_cause_id uuid,
    known_answers text[] NOT NULL
) WITH (fillfactor = 80);
COMMENT ON TABLE proj.repeat_issues_cases IS
    'Internal (projection repeat_issues): per case its customer, topic, status, root cause and '
    'the known answers given on it.';

CREATE TABLE IF NOT EXISTS proj.repeat_rc_links (
    root_cause_id     uuid        NOT NULL,
    case_id           uuid        NOT NULL,
    first_attached_at timestamptz NOT NULL,
    last_attached_at  timestamptz NOT NULL,
    attachments       integer     NOT NULL,
    recurrence        boolean     NOT NULL,
    PRIMARY KEY (root_cause_id, case_id)
);
CREATE INDEX IF NOT EXISTS repeat_rc_links_case ON proj.repeat_rc_links (case_id);
COMMENT ON TABLE proj.repeat_rc_links IS
    'Internal (projection repeat_issues): cases attached to root causes (CaseAttached).';

-- === metrics (projection "metrics") ==========================================================
CREATE TABLE IF NOT EXISTS proj.service_metrics_daily (
    day                           date    PRIMARY KEY,
    opened                        integer NOT NULL,
    acknowledged                  integer NOT NULL,
    resolved                      integer NOT NULL,
    first_resolved                integer NOT NULL,
    first_contact_resolutions     integer NOT NULL,
    first_contact_resolution_rate numeric,
    reopenings                    integer NOT NULL,
    escalations                   integer NOT NULL,
    closed                        integer NOT NULL,
    ratings                       integer NOT NULL,
    csat_count                    integer NOT NULL,
    csat_average                  numeric,
    median_seconds_to_acknowledge double precision,
    median_seconds_to_resolve     double precision
);
COMMENT ON TABLE proj.service_metrics_daily IS
    'Service metrics per UTC day (a day has a row when any case event happened on it).';
COMMENT ON COLUMN proj.service_metrics_daily.day IS 'UTC day.';
COMMENT ON COLUMN proj.service_metrics_daily.opened IS 'Cases opened.';
COMMENT ON COLUMN proj.service_metrics_daily.acknowledged IS 'Cases acknowledged.';
COMMENT ON COLUMN proj.service_metrics_daily.resolved IS
    'Resolutions (a case resolved again after a reopening counts again).';
COMMENT ON COLUMN proj.service_metrics_daily.first_resolved IS 'Cases resolved for the first time.';
COMMENT ON COLUMN proj.service_metrics_daily.first_contact_resolutions IS
    'Of first_resolved: cases with exactly one inbound contact, never reopened and never '
    'escalated (as of now: a later reopening or escalation removes the case from its day).';
COMMENT ON COLUMN proj.service_metrics_daily.first_contact_resolution_rate IS
    'first_contact_resolutions / first_resolved (4 decimals; null when none resolved).';
COMMENT ON COLUMN proj.service_metrics_daily.reopenings IS 'Reopenings.';
COMMENT ON COLUMN proj.service_metrics_daily.escalations IS 'Escalations.';
COMMENT ON COLUMN proj.service_metrics_daily.closed IS 'Closings.';
COMMENT ON COLUMN proj.service_metrics_daily.ratings IS 'SatisfactionRated events.';
COMMENT ON COLUMN proj.service_metrics_daily.csat_count IS
    'Cases whose latest rating was given that day.';
COMMENT ON COLUMN proj.service_metrics_daily.csat_average IS
    'Average of those latest scores (2 decimals).';
COMMENT ON COLUMN proj.service_metrics_daily.median_seconds_to_acknowledge IS
    'Median opening-to-acknowledgement time of the cases acknowledged that day.';
COMMENT ON COLUMN proj.service_metrics_daily.median_seconds_to_resolve IS
    'Median opening-to-first-resolution time of the cases first resolved that day.';

CREATE TABLE IF NOT EXISTS proj.agent_metrics_daily (
    day            date    NOT NULL,
    agent_id       text    NOT NULL,
    cases_resolved integer NOT NULL,
    ratings        integer NOT NULL,
    csat_count     integer NOT NULL,
    csat_average   numeric,
    PRIMARY KEY (day, agent_id)
);
CREATE INDEX IF NOT EXISTS agent_metrics_daily_agent ON proj.agent_metrics_daily (agent_id, day);
COMMENT ON TABLE proj.agent_metrics_daily IS
    'Per UTC day and agent: resolutions credited and satisfaction credited to the owner at the '
    'time of rating (a later change of owner does not move the credit).';
COMMENT ON COLUMN proj.agent_metrics_daily.day IS 'UTC day.';
COMMENT ON COLUMN proj.agent_metrics_daily.agent_id IS 'The agent.';
COMMENT ON COLUMN proj.agent_metrics_daily.cases_resolved IS
    'Resolutions credited to the agent (the owner when resolved).';
COMMENT ON COLUMN proj.agent_metrics_daily.ratings IS 'Ratings credited (every rating event).';
COMMENT ON COLUMN proj.agent_metrics_daily.csat_count IS
    'Cases whose latest rating was given that day and credited to the agent.';
COMMENT ON COLUMN proj.agent_metrics_daily.csat_average IS 'Average of those scores (2 decimals).';

CREATE TABLE IF NOT EXISTS proj.metrics_cases (
    case_id            uuid        PRIMARY KEY,
    opened_at          timestamptz NOT NULL,
    acknowledged_at    timestamptz,
    ack_day            date,
    first_resolved_at  timestamptz,
    first_resolved_day date,
    inbound_contacts   integer     NOT NULL,
    reopen_count       integer     NOT NULL,
    escalations        integer     NOT NULL,
    fcr                boolean     NOT NULL,
    csat_score         integer,
    csat_owner_id      text,
    csat_day           date
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS metrics_cases_ack_day ON proj.metrics_cases (ack_day);
CREATE INDEX IF NOT EXISTS metrics_cases_first_resolved_day
    ON proj.metrics_cases (first_resolved_day);
CREATE INDEX IF NOT EXISTS metrics_cases_csat_day ON proj.metrics_cases (csat_day);
COMMENT ON TABLE proj.metrics_cases IS
    'Internal (projection metrics): per case the facts the daily medians and rates need.';
