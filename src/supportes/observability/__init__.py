"""Metrics, health and readiness of the serving processes (Prometheus exposition)."""
