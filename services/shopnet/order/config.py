"""Configuration of the order service (environment variables, see `setting`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import DatabaseConfig, require_positive, setting
from shopnet.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConfig(DatabaseConfig):
    service: ClassVar[str] = "order"
    default_port: ClassVar[int] = 3002

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
        DatabaseConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        require_positive(
            SHOPNET_PRODUCT_TIMEOUT_SECONDS=self.product_timeout_seconds,
            SHOPNET_DISCOVERY_WAIT_SECONDS=self.discovery_wait_seconds,
        )
        if self.product_attempts < 1:
            raise ConfigError("SHOPNET_PRODUCT_ATTEMPTS must be >= 1")
