"""Runtime settings, read from ``SUPPORTES_*`` environment variables (pydantic-settings).

Nothing here touches the network or the disk; :func:`load_settings` turns validation errors into
a :class:`~supportes.errors.ConfigError` that names the environment variable at fault.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from supportes.errors import ConfigError

ENV_PREFIX = "SUPPORTES_"
LOCAL_HOST = "127.0.0.1"


class PgComponent(StrEnum):
    """Who connects to PostgreSQL; each component has its own login role (design section 8)."""

    OWNER = "owner"  # runs migrations, owns the objects, rebuilds projections
    WRITER = "writer"  # event_index read/write
    PROJECTOR = "projector"  # proj read/write
    API = "api"  # reads proj and event_index, reads/writes auth
    ANALYTICS = "analytics"  # reads proj, nothing else

    @property
    def role(self) -> str:
        """The local stack's login role (the owner's is ``SUPPORTES_PG_USER``)."""
        return f"supportes_{self.value}"


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
    replication_factor: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Replication factor of new topics. Unset: SUPPORTES_KAFKA_BROKERS (at most 3).",
    )
    audit_key: SecretStr | None = Field(
        default=None, description="Key for HMAC-SHA-256 event hashes (plain SHA-256 when unset)."
    )

    home: Path = Field(default=Path(".local"), description="State directory of the local stack.")
    kafka_version: str = Field(default="4.3.1", pattern=r"^4\.\d+\.\d+$")
    # The local servers' default ports lie below Linux's ephemeral range (32768-60999): a port
    # in it can be taken as the local end of an outgoing connection between the check that it
    # is free and the server's bind, or by the readiness poll's own connection to it (a TCP
    # self-connect). CI's Kafka once exited at start on 39092 that way.
    kafka_port: int = Field(default=29092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=29093, ge=1, le=65535)
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[mMgG]$")
    kafka_brokers: int = Field(
        default=1,
        description="Nodes of the local Kafka: 1, or 3 (a KRaft cluster for fault tests on "
        "ports KAFKA_PORT, +2, +4 and KAFKA_CONTROLLER_PORT, +2, +4).",
    )
    pg_port: int = Field(default=25432, ge=1, le=65535)
    pg_database: str = Field(default="supportes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    pg_user: str = Field(default="supportes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    startup_timeout_s: float = Field(default=90.0, gt=0)
    # PostgreSQL roles
    pg_writer_dsn: str | None = Field(
        default=None, description="The writer's DSN (event_index). Unset: see dsn_for."
    )
    pg_projector_dsn: str | None = Field(
        default=None, description="The projector's DSN (proj). Unset: see dsn_for."
    )
    pg_api_dsn: str | None = Field(
        default=None, description="The API's and read verbs' DSN. Unset: see dsn_for."
    )
    pg_analytics_dsn: str | None = Field(
        default=None, description="DSN of proj-only reads (reports, queues). Unset: see dsn_for."
    )
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
    # Kafka security (design section 8; supportes.messaging.security). The local broker: each
    # component's generated password under <home>/secrets. An external cluster: one identity
    # (username/password) or a JSON credentials file {component: {"username", "password"}}.
    kafka_username: str | None = Field(
        default=None, description="SASL username of every Kafka client of this process."
    )
    kafka_password: SecretStr | None = Field(
        default=None, description="SASL password going with SUPPORTES_KAFKA_USERNAME."
    )
    kafka_credentials_file: Path | None = Field(
        default=None,
        description='JSON {"writer": {"username": ..., "password": ...}, ...}: one SASL identity '
        "per component (admin, writer, projector, api, auditor).",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] | None = (
        Field(
            default=None,
            description="Unset: SASL_PLAINTEXT for the local broker or when credentials are "
            "configured, else PLAINTEXT.",
        )
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle for SASL_SSL/SSL (unset: the system's)."
    )
    kafka_manage_acls: bool = Field(
        default=True,
        description="Create the ACLs of design section 8 whenever topics are ensured (turn off "
        "when the cluster's operator manages ACLs).",
    )
    # Personal data (design section 9; supportes.privacy)
    kek_file: Path | None = Field(
        default=None,
        description="File holding the key-encryption key that wraps every data subject's key "
        "(32 random bytes, base64; mode 0600). Unset: <home>/secrets/kek, made by `stack up`.",
    )
    # HTTP API
    api_listen: str = Field(
        default="127.0.0.1:8080",
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$",
        description="host:port the HTTP API listens on (`supportes serve`, `serve --api`).",
    )
    metrics_listen: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$",
        description="host:port where a serving process answers /metrics, /healthz and /readyz "
        "(its writer and projector roles; the API has them on SUPPORTES_API_LISTEN too). "
        "Unset: no such listener.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Record the supportes_* metrics (off only to measure what they cost).",
    )
    api_delivery_timeout_s: float = Field(
        default=120.0,
        ge=31,
        le=3600,
        description="How long the API's producer keeps trying to put a command on the log (a"
        " broker outage) before giving it up; at least the 30 s request timeout plus linger.",
    )
    api_result_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long POST /v1/commands waits for the result before answering 202.",
    )
    api_max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=100_000_000,
        description="Largest request body the API reads; larger ones get 413.",
    )
    api_rate_per_s: float = Field(
        default=200.0,
        gt=0,
        le=1_000_000,
        description="Requests per second one principal may make (token bucket refill).",
    )
    api_rate_burst: int = Field(
        default=400,
        ge=1,
        le=1_000_000,
        description="Requests one principal may make at once before 429 (token bucket size).",
    )
    api_db_connections: int = Field(
        default=8,
        ge=1,
        le=64,
        description=(
            "Most PostgreSQL connections the API opens (one pool shared by reads and the "
            "API-token check); a request beyond them waits for one."
        ),
    )
    api_db_wait_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a request waits for a free PostgreSQL connection before 503.",
    )
    api_token_cache_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "How long a verified API token is remembered (0: checked in PostgreSQL on every "
            "request). Revocation evicts it at once (LISTEN/NOTIFY); while the API cannot "
            "listen, nothing is remembered."
        ),
    )

    # Console
    console_enabled: bool = Field(
        default=True,
        description="Serve the web console at /console on the API's address.",
    )
    console_session_ttl_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description=(
            "How long a console session lasts after sign-in (never past the expiry of the "
            "token it signed in with; revoking an API token ends its sessions at once)."
        ),
    )
    console_cookie_secure: bool = Field(
        default=True,
        description=(
            "Mark the console's cookies Secure (sent over HTTPS only; browsers also send them "
            "to http://127.0.0.1 and http://localhost). Turn off only behind plain HTTP on "
            "another host name, which should not happen outside a test."
        ),
    )

    target_resolve: timedelta = Field(
        default=timedelta(days=3),
        description="The time to resolve a case should stay under (the metrics page's line).",
    )
    target_first_contact_resolution_rate: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="The share of cases resolved at first contact to reach (0..1).",
    )
    target_csat_average: float = Field(
        default=4.0,
        ge=1,
        le=5,
        description="The average satisfaction rating (1..5) to reach.",
    )

    # Commands
    max_clock_skew: timedelta = Field(
        default=timedelta(minutes=5),
        ge=timedelta(0),
        le=timedelta(days=1),
        description=(
            "How far ahead of the writer's clock a command's issued_at may be (seconds or ISO "
            "8601, e.g. 300 or PT5M; 0 to 1 day). Later ones are rejected: invalid, issued_at."
        ),
    )

    @field_validator("max_clock_skew", mode="before")
    @classmethod
    def _seconds_are_a_duration(cls, value: object) -> object:
        """``300`` in the environment means 300 seconds (pydantic takes only ISO 8601 text)."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Service levels (design section 5).
    sla_acknowledge: timedelta = timedelta(hours=1)
    sla_acknowledge_urgent: timedelta = timedelta(minutes=15)
    sla_update_customer: timedelta = timedelta(hours=24)
    sla_update_customer_urgent: timedelta = timedelta(hours=4)
    sla_follow_up_after_resolution: timedelta = timedelta(days=2)
    sla_root_cause: timedelta = Field(
        default=timedelta(days=3),
        gt=timedelta(0),
        description=(
            "Fix everything twice: a case resolved by a workaround or a known answer with no "
            "root cause is a `root_cause_needed` item due this long after resolution (until a "
            "root cause is linked or a lead waives it); `fix_twice_rate` counts the cases "
            "settled within it; a `known_answer_recurring` item is due this long after the "
            "known answer reached its threshold."
        ),
    )
    known_answer_threshold: int = Field(
        default=3,
        ge=2,
        le=1000,
        description=(
            "A known answer given this many times within 30 days (between event times) to "
            "cases without a root cause is a `known_answer_recurring` item for the leads."
        ),
    )

    # Authentication (design section 8; supportes.auth). OIDC is on when all three of issuer,
    # audience and JWKS URL are set; API tokens (spt_...) always work.
    oidc_issuer: str | None = Field(
        default=None, description="Expected `iss` of OIDC access tokens (exact match)."
    )
    oidc_audience: str | None = Field(
        default=None, description="Expected `aud` of OIDC access tokens (this API's id)."
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="http(s) URL of the issuer's JWKS (its signing keys)."
    )
    oidc_roles_claim: str = Field(
        default="roles",
        pattern=r"^[A-Za-z0-9_:/.-]{1,200}$",
        description="Claim holding the roles (a list of strings); dots reach into objects.",
    )
    oidc_algorithms: str = Field(
        default="RS256,ES256,PS256,EdDSA",
        pattern=r"^[A-Za-z0-9, ]{1,200}$",
        description="Comma-separated signature algorithms accepted (asymmetric ones only).",
    )
    oidc_leeway_s: float = Field(
        default=30.0, ge=0, le=300, description="Clock leeway for exp/nbf/iat, in seconds."
    )
    oidc_jwks_cache_s: float = Field(
        default=300.0, gt=0, le=86_400, description="How long a fetched JWKS is trusted."
    )
    oidc_jwks_cooldown_s: float = Field(
        default=10.0,
        ge=0,
        le=3_600,
        description="Least time between JWKS refetches forced by tokens with an unknown kid.",
    )
    oidc_jwks_timeout_s: float = Field(default=5.0, gt=0, le=60, description="JWKS fetch timeout.")

    @field_validator(
        "kafka_bootstrap",
        "pg_dsn",
        "kafka_username",
        "pg_writer_dsn",
        "pg_projector_dsn",
        "pg_api_dsn",
        "pg_analytics_dsn",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("kafka_brokers")
    @classmethod
    def _one_or_three_brokers(cls, value: int) -> int:
        if value not in (1, 3):
            raise ValueError("the local Kafka has 1 or 3 nodes")
        return value

    @model_validator(mode="after")
    def _replicas_follow_brokers(self) -> Settings:
        """Unless set, the replication factor is the number of local brokers."""
        if "replication_factor" not in self.model_fields_set:
            object.__setattr__(self, "replication_factor", min(3, self.kafka_brokers))
        return self

    def with_kafka_brokers(self, brokers: int) -> Settings:
        """These settings with ``brokers`` local Kafka nodes (``stack up --brokers``); the
        replication factor follows unless it was set."""
        if brokers not in (1, 3):
            raise ConfigError(f"{env_name('kafka_brokers')}: the local Kafka has 1 or 3 nodes")
        explicit = "replication_factor" in self.model_fields_set
        update: dict[str, object] = {"kafka_brokers": brokers}
        if not explicit:
            update["replication_factor"] = min(3, brokers)
        copy = self.model_copy(update=update)
        if not explicit:
            copy.model_fields_set.discard("replication_factor")
        return copy

    @property
    def kafka_ports(self) -> list[tuple[int, int]]:
        """(client port, controller port) of each local Kafka node: ``KAFKA_PORT`` and
        ``KAFKA_CONTROLLER_PORT``, then +2 and +4 for the second and third of a cluster."""
        return [
            (self.kafka_port + 2 * i, self.kafka_controller_port + 2 * i)
            for i in range(self.kafka_brokers)
        ]

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
        """The Kafka bootstrap servers to use, configured or every local node."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return ",".join(f"{LOCAL_HOST}:{port}" for port, _ in self.kafka_ports)

    @property
    def dsn(self) -> str:
        """The owner's PostgreSQL DSN (migrations, rebuilds, tooling), local or configured."""
        if self.pg_dsn:
            return self.pg_dsn
        return self._local_dsn(self.pg_user)

    @property
    def pg_passfile(self) -> Path:
        """The local stack's libpq password file (written by ``stack up``, mode 0600)."""
        return self.home_dir / "secrets" / "pgpass"

    @property
    def kek_path(self) -> Path:
        """The key-encryption key's file: ``SUPPORTES_KEK_FILE``, else the local stack's
        ``<home>/secrets/kek`` (created by ``stack up``, mode 0600)."""
        if self.kek_file is not None:
            return self.kek_file.expanduser()
        return self.home_dir / "secrets" / "kek"

    def _local_dsn(self, user: str) -> str:
        passfile = quote(str(self.pg_passfile), safe="/")
        return (
            f"postgresql://{user}@{LOCAL_HOST}:{self.pg_port}/{self.pg_database}"
            f"?passfile={passfile}"
        )

    def dsn_for(self, component: PgComponent) -> str:
        """The DSN ``component`` connects with: ``SUPPORTES_PG_<COMPONENT>_DSN`` when set; else
        its own role on the local cluster (password in the 0600 passfile, never in the DSN);
        else ``SUPPORTES_PG_DSN``, one identity for every component."""
        if component is PgComponent.OWNER:
            return self.dsn
        own: str | None = getattr(self, f"pg_{component.value}_dsn")
        if own:
            return own
        if self.pg_dsn:
            return self.pg_dsn
        return self._local_dsn(component.role)

    def dsn_source(self, component: PgComponent) -> str:
        """What :meth:`dsn_for` took ``component``'s DSN from, for error messages."""
        if component is not PgComponent.OWNER and getattr(self, f"pg_{component.value}_dsn"):
            return env_name(f"pg_{component.value}_dsn")
        if self.pg_dsn:
            return env_name("pg_dsn")
        role = self.pg_user if component is PgComponent.OWNER else component.role
        return f"role {role} of the local cluster"

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
