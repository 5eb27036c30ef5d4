"""Configuration of the product service (environment variables, see `setting`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import DatabaseConfig, require_positive, setting
from shopnet.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductConfig(DatabaseConfig):
    service: ClassVar[str] = "product"
    default_port: ClassVar[int] = 3001

    redis_url: str = setting("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL of the cache.")
    redis_password_file: str = setting(
        "REDIS_PASSWORD_FILE", "", "File holding the password of the Redis URL's ACL user."
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
    reservation_hold_seconds: float = setting(
        "SHOPNET_RESERVATION_HOLD_SECONDS",
        600.0,
        "How long a stock reservation holds its stock unless its order confirms it (far "
        "longer than an order's budget); then the stock goes back.",
    )
    reservation_sweep_seconds: float = setting(
        "SHOPNET_RESERVATION_SWEEP_SECONDS",
        5.0,
        "How often expired stock reservations are looked for and released.",
    )
    internal_callers_file: str = setting(
        "SHOPNET_INTERNAL_CALLERS_FILE",
        "",
        "File (mode 0600) of `caller sha256-hex` lines: the digest of each internal caller's "
        "token; empty: no token check.",
    )

    def __post_init__(self) -> None:
        DatabaseConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        if self.seed_products < 0:
            raise ConfigError("SHOPNET_SEED_PRODUCTS must be >= 0")
        if self.cache_ttl_seconds < 1:
            raise ConfigError("SHOPNET_CACHE_TTL_SECONDS must be >= 1")
        require_positive(
            SHOPNET_CACHE_TIMEOUT_SECONDS=self.cache_timeout_seconds,
            SHOPNET_CACHE_PROBE_SECONDS=self.cache_probe_seconds,
            SHOPNET_RESERVATION_HOLD_SECONDS=self.reservation_hold_seconds,
            SHOPNET_RESERVATION_SWEEP_SECONDS=self.reservation_sweep_seconds,
        )
        if self.cache_max_connections < 1:
            raise ConfigError("SHOPNET_CACHE_MAX_CONNECTIONS must be >= 1")
