"""PostgreSQL access shared by the event index and the projections (psycopg2)."""
