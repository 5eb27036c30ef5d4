"""Configuration of the product service (environment variables, see `setting`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting
from shopnet.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductConfig(ServiceConfig):
    service: ClassVar[str] = "product"
    default_port: ClassVar[int] = 3001

    database_url: str = setting(
        "DATABASE_URL",
        "postgresql://shopnet@127.0.0.1:5432/shopnet",
        "PostgreSQL DSN; the service owns the `products` schema in it.",
    )
    redis_url: str = setting("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL of the cache.")
    db_pool_min: int = setting("SHOPNET_DB_POOL_MIN", 2, "PostgreSQL connections kept open.")
    db_pool_max: int = setting("SHOPNET_DB_POOL_MAX", 10, "Most PostgreSQL connections at once.")
    db_timeout_seconds: float = setting(
        "SHOPNET_DB_TIMEOUT_SECONDS",
        5.0,
        "Bound on one statement and on waiting for a pooled connection (then 503).",
    )
    db_wait_seconds: float = setting(
        "SHOPNET_DB_WAIT_SECONDS", 60.0, "How long start-up waits for PostgreSQL to accept us."
    )
    seed_products: int = setting(
        "SHOPNET_SEED_PRODUCTS",
        1000,
        "Size of the deterministic catalog loaded on first start (0: none).",
    )
    cache_ttl_seconds: int = setting(
        "SHOPNET_CACHE_TTL_SECONDS", 300, "Lifetime of a cached product or product list."
    )
    cache_timeout_seconds: float = setting(
        "SHOPNET_CACHE_TIMEOUT_SECONDS",
        0.25,
        "Redis connect/read timeout; past it the cache counts as down.",
    )
    cache_probe_seconds: float = setting(
        "SHOPNET_CACHE_PROBE_SECONDS",
        0.5,
        "How often Redis is pinged (to notice it leave, and come back).",
    )
    cache_max_connections: int = setting(
        "SHOPNET_CACHE_MAX_CONNECTIONS", 32, "Most Redis connections at once."
    )

    def __post_init__(self) -> None:
        ServiceConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        if not 1 <= self.db_pool_min <= self.db_pool_max:
            raise ConfigError("need 1 <= SHOPNET_DB_POOL_MIN <= SHOPNET_DB_POOL_MAX")
        if self.seed_products < 0:
            raise ConfigError("SHOPNET_SEED_PRODUCTS must be >= 0")
        if self.cache_ttl_seconds < 1:
            raise ConfigError("SHOPNET_CACHE_TTL_SECONDS must be >= 1")
        for env, value in (
            ("SHOPNET_DB_TIMEOUT_SECONDS", self.db_timeout_seconds),
            ("SHOPNET_CACHE_TIMEOUT_SECONDS", self.cache_timeout_seconds),
            ("SHOPNET_CACHE_PROBE_SECONDS", self.cache_probe_seconds),
        ):
            if value <= 0:
                raise ConfigError(f"{env} must be positive")
        if self.cache_max_connections < 1:
            raise ConfigError("SHOPNET_CACHE_MAX_CONNECTIONS must be >= 1")
