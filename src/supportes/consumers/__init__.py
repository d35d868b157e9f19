"""Long-running Kafka consumers: the command writer and the projector."""
