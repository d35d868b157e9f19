"""The local Kafka + PostgreSQL stack used for development, tests and CI."""
