"""Kafka as the event store: the PostgreSQL event index and the eventsourcing recorder on top."""
