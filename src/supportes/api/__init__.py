"""The HTTP API (design section 8): FastAPI routes over the same services the CLI uses."""
