"""Operations on a running system: projection status, wait, rebuild, retry of parked events."""
