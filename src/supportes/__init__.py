"""supportes: an event-sourced support-operations backend (Kafka log, PostgreSQL projections)."""

__version__ = "0.1.0"
