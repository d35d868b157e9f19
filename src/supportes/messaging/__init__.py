"""Kafka plumbing shared by the writer, the projector and the client (kafka-python)."""
