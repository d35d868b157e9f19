"""Runtime settings, read from ``SUPPORTES_*`` environment variables (pydantic-settings).

Nothing here touches the network or the disk; :func:`load_settings` turns validation errors into
a :class:`~supportes.errors.ConfigError` that names the environment variable at fault.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from supportes.errors import ConfigError

ENV_PREFIX = "SUPPORTES_"
LOCAL_HOST = "127.0.0.1"


class Settings(BaseSettings):
    """All configuration of supportes; every field maps to ``SUPPORTES_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Existing Kafka bootstrap servers (host:port,...). Unset: the local broker.",
    )
    pg_dsn: str | None = Field(
        default=None,
        description="Existing PostgreSQL DSN (libpq URI or key=value). Unset: the local cluster.",
    )
    topic_prefix: str = Field(default="supportes", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    partitions: int = Field(default=6, ge=1, le=1000, description="Partitions per topic.")
    replication_factor: int = Field(default=1, ge=1, le=16)
    audit_key: SecretStr | None = Field(
        default=None, description="Key for HMAC-SHA-256 event hashes (plain SHA-256 when unset)."
    )

    home: Path = Field(default=Path(".local"), description="State directory of the local stack.")
    kafka_version: str = Field(default="4.3.1", pattern=r"^4\.\d+\.\d+$")
    kafka_port: int = Field(default=39092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=39093, ge=1, le=65535)
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[mMgG]$")
    pg_port: int = Field(default=55432, ge=1, le=65535)
    pg_database: str = Field(default="supportes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    pg_user: str = Field(default="supportes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    startup_timeout_s: float = Field(default=90.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)

    group_session_timeout_ms: int = Field(
        default=10_000, ge=6_000, le=300_000, description="Consumer group session timeout."
    )
    projector_batch: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description=(
            "Most events the projector (and a rebuild) applies in one PostgreSQL transaction: "
            "its max_poll_records. Larger batches catch up faster and hold more in memory."
        ),
    )
    projector_connections: int = Field(
        default=2,
        ge=1,
        le=8,
        description=(
            "PostgreSQL connections the projector spreads the projections over: each applies "
            "its projections' share of a batch and their offsets in its own transaction, "
            "concurrently with the others. 1: every projection in one transaction."
        ),
    )
    writer_instance: str = Field(
        default="0",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description=(
            "Stable name of this writer process: its transactional id is <group>-<instance>. "
            "Keep it across restarts; never run two live writers with the same one."
        ),
    )

    max_command_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=100_000_000,
        description=(
            "Largest command record a client sends (key and JSON value). Keep it under the "
            "broker's message.max.bytes (Kafka's default 1,048,588) and the producer's "
            "max.request.size (1 MiB)."
        ),
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Service levels (design section 5).
    sla_acknowledge: timedelta = timedelta(hours=1)
    sla_acknowledge_urgent: timedelta = timedelta(minutes=15)
    sla_update_customer: timedelta = timedelta(hours=24)
    sla_update_customer_urgent: timedelta = timedelta(hours=4)
    sla_follow_up_after_resolution: timedelta = timedelta(days=2)

    @field_validator("kafka_bootstrap", "pg_dsn")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def kafka_is_local(self) -> bool:
        """True when supportes runs its own broker (no ``SUPPORTES_KAFKA_BOOTSTRAP``)."""
        return self.kafka_bootstrap is None

    @property
    def pg_is_local(self) -> bool:
        """True when supportes runs its own PostgreSQL cluster (no ``SUPPORTES_PG_DSN``)."""
        return self.pg_dsn is None

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers to use, local or configured."""
        return self.kafka_bootstrap or f"{LOCAL_HOST}:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        """The PostgreSQL DSN to use, local or configured."""
        if self.pg_dsn:
            return self.pg_dsn
        return f"postgresql://{self.pg_user}@{LOCAL_HOST}:{self.pg_port}/{self.pg_database}"

    @property
    def home_dir(self) -> Path:
        """Absolute state directory of the local stack."""
        return self.home.expanduser().resolve()

    def topic(self, name: str) -> str:
        """Full name of a topic: ``<prefix>.<name>``."""
        return f"{self.topic_prefix}.{name}"


def env_name(field: str) -> str:
    """The environment variable behind a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ConfigError naming the variable on bad values."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"{env_name(field)}: {first['msg']}") from None
