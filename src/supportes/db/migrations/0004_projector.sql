-- Projector bookkeeping beside proj.offsets (0001).
-- parked_events: events a projection failed to apply (a bug, not bad data), and every later event
-- of the same aggregate for that projection, kept in log order until `projections retry-parked`.
CREATE TABLE IF NOT EXISTS proj.parked_events (
    projection   text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    aggregate_id uuid        NOT NULL,
    version      integer     NOT NULL,
    type         text        NOT NULL,
    envelope     jsonb       NOT NULL,
    error        text        NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS parked_events_aggregate
    ON proj.parked_events (projection, aggregate_id, version);
COMMENT ON TABLE proj.parked_events IS
    'Events a projection could not apply (with the error), and the later events of that aggregate.';
COMMENT ON TABLE proj.offsets IS
    'Projector progress: next offset of the events topic to apply, per projection and partition.';
