"""Benchmarks for ``make bench``: throughput and latency ceilings of the bare building blocks.

Run ``python -m supportes.bench [--only NAME ...] [--scale FLOAT] [--json]``. Every benchmark works
in its own scratch topics (``bench-<hex>.*``) and scratch PostgreSQL database, removed afterwards.
The ceiling functions (:mod:`supportes.bench.kafka_ceilings`, :mod:`supportes.bench.pg_ceilings`)
take explicit parameters so later benchmarks of the writer and projector can compare against them.
"""
