"""What every request shares: settings, database pool, command submitter and sealer,
authenticator."""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Lock

from fastapi import Request
from kafka import KafkaConsumer

from supportes.api.case_owners import CaseOwners
from supportes.api.database import Database, api_async_pool, api_pool
from supportes.api.ratelimit import RateLimiter
from supportes.api.submitter import CommandSubmitter
from supportes.auth import Authenticator
from supportes.auth.authenticator import token_cache
from supportes.privacy.edge import CommandSealer
from supportes.privacy.wiring import command_sealer
from supportes.settings import Settings


@dataclass
class ApiContext:
    """The API process's shared parts; built at start-up, closed at shutdown."""

    settings: Settings
    database: Database
    submitter: CommandSubmitter
    authenticator: Authenticator
    limiter: RateLimiter
    sealer: CommandSealer
    case_owners: CaseOwners = field(default_factory=CaseOwners)
    feed_lock: Lock = field(default_factory=Lock)
    feed_reader: KafkaConsumer | None = None

    @classmethod
    def start(cls, settings: Settings) -> ApiContext:
        """Connect what the API needs (Kafka clients, PostgreSQL pool)."""
        pool = api_pool(settings)
        return cls(
            settings=settings,
            database=Database(pool, api_async_pool(settings)),
            submitter=CommandSubmitter(settings),
            authenticator=Authenticator(settings, pool=pool, cache=token_cache(settings)),
            limiter=RateLimiter(settings.api_rate_per_s, settings.api_rate_burst),
            sealer=command_sealer(settings),
        )

    def close(self) -> None:
        """Release the clients and connections."""
        self.submitter.close()
        if self.authenticator.cache is not None:
            self.authenticator.cache.close()
        self.authenticator.close()
        self.database.close()
        self.sealer.close()
        with self.feed_lock:
            if self.feed_reader is not None:
                self.feed_reader.close()
                self.feed_reader = None


def context_of(request: Request) -> ApiContext:
    """The context of the app serving ``request``."""
    context: ApiContext = request.app.state.context
    return context
