"""Unit tests of supportes.auth."""
