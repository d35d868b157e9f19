-- The event index (write path): every committed event with its Kafka position, the processed
-- command ids (idempotency), and how far each log partition has been indexed.

CREATE TABLE IF NOT EXISTS event_index.events (
    aggregate_id   uuid        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    aggregate_type text        NOT NULL,
    event_id       uuid        NOT NULL,
    type           text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    command_id     uuid        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    hash           text        NOT NULL,
    envelope       jsonb       NOT NULL,
    PRIMARY KEY (aggregate_id, version),
    UNIQUE (event_id),
    UNIQUE (topic, partition, "offset")
);

-- One row per command the writer answered (accepted or rejected): a resubmitted command_id gets
-- this first result again. Rows older than the commands topic's retention may be pruned.
CREATE TABLE IF NOT EXISTS event_index.processed_commands (
    command_id     uuid        PRIMARY KEY,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    status         text        NOT NULL CHECK (status IN ('accepted', 'rejected')),
    result         jsonb       NOT NULL,
    results_offset bigint      NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_commands_processed_at
    ON event_index.processed_commands (processed_at);

-- Next offset to index per log partition (events and results topics).
CREATE TABLE IF NOT EXISTS event_index.log_positions (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
