"""The reference documentation under ``docs/`` kept in step with the code."""
