"""Configuration of the order service (environment variables, see `setting`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting
from shopnet.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConfig(ServiceConfig):
    service: ClassVar[str] = "order"
    default_port: ClassVar[int] = 3002

    database_url: str = setting(
        "DATABASE_URL",
        "postgresql://shopnet@127.0.0.1:5432/shopnet",
        "PostgreSQL DSN; the service owns the `orders` schema in it.",
    )
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
    product_service: str = setting(
        "SHOPNET_PRODUCT_SERVICE", "product", "Registry name of the product service."
    )
    product_timeout_seconds: float = setting(
        "SHOPNET_PRODUCT_TIMEOUT_SECONDS", 2.0, "Bound on one call to one product instance."
    )
    product_attempts: int = setting(
        "SHOPNET_PRODUCT_ATTEMPTS",
        2,
        "Product instances tried for one pricing call (each retry goes to another instance).",
    )
    discovery_wait_seconds: float = setting(
        "SHOPNET_DISCOVERY_WAIT_SECONDS", 30.0, "Long-poll wait of the registry watch."
    )

    def __post_init__(self) -> None:
        ServiceConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        if not 1 <= self.db_pool_min <= self.db_pool_max:
            raise ConfigError("need 1 <= SHOPNET_DB_POOL_MIN <= SHOPNET_DB_POOL_MAX")
        for env, value in (
            ("SHOPNET_DB_TIMEOUT_SECONDS", self.db_timeout_seconds),
            ("SHOPNET_PRODUCT_TIMEOUT_SECONDS", self.product_timeout_seconds),
            ("SHOPNET_DISCOVERY_WAIT_SECONDS", self.discovery_wait_seconds),
        ):
            if value <= 0:
                raise ConfigError(f"{env} must be positive")
        if self.product_attempts < 1:
            raise ConfigError("SHOPNET_PRODUCT_ATTEMPTS must be >= 1")
