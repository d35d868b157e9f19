-- Schemas of supportes.
--   event_index: every committed event with its Kafka partition and offset (write path).
--   proj:        projections read by people and analytics jobs (read path).
CREATE SCHEMA IF NOT EXISTS event_index;
CREATE SCHEMA IF NOT EXISTS proj;

-- Projector progress: the next offset to read per topic partition, stored in the same
-- transaction as the rows a batch of events produced (design section 5).
CREATE TABLE IF NOT EXISTS proj.offsets (
    projection  text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
