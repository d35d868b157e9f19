-- Records no jsonb/text column can hold (U+0000, unpaired surrogates: logs written before the
-- domain refused them, or a future bug) are kept as their raw bytes, so that no record on the
-- log can stop a partition (issue 14).

-- event_index.parked_records: log records the event index could not store as jsonb. Events keep
-- their aggregate and version: the writer loads an aggregate from events and parked events
-- together, so the case goes on working. Results keep their command id (idempotency).
CREATE TABLE IF NOT EXISTS event_index.parked_records (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('event', 'result')),
    aggregate_id uuid,
    version      integer,
    command_id   uuid,
    raw          bytea       NOT NULL,
    reason       text        NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS parked_records_aggregate
    ON event_index.parked_records (aggregate_id, version) WHERE kind = 'event';
CREATE INDEX IF NOT EXISTS parked_records_command
    ON event_index.parked_records (command_id) WHERE kind = 'result';
COMMENT ON TABLE event_index.parked_records IS
    'Log records the index could not store as jsonb, kept as raw bytes (still loaded and verified).';

-- The digest of the command as first submitted: the same command_id with another body is
-- refused (idempotency_key_reused). NULL for commands answered before this migration.
ALTER TABLE event_index.processed_commands ADD COLUMN IF NOT EXISTS digest text;

-- A parked event keeps its raw bytes; the decoded envelope only when jsonb can hold it.
ALTER TABLE proj.parked_events ALTER COLUMN envelope DROP NOT NULL;
ALTER TABLE proj.parked_events ADD COLUMN IF NOT EXISTS raw bytea;
