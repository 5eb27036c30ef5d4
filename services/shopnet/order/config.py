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
    idempotency_ttl_seconds: float = setting(
        "SHOPNET_IDEMPOTENCY_TTL_SECONDS",
        86400.0,
        "How long an Idempotency-Key is remembered (then it may name a new order).",
    )
    budget_seconds: float = setting(
        "SHOPNET_ORDER_BUDGET_SECONDS",
        2.0,
        "Longest time placing one order may take; the gateway's X-Request-Budget-Ms shortens it.",
    )
    budget_margin_seconds: float = setting(
        "SHOPNET_ORDER_BUDGET_MARGIN_SECONDS",
        0.25,
        "An order gives up (and releases its stock) this long before its budget ends, so its "
        "caller never times out on an order that is stored after all.",
    )
    recovery_seconds: float = setting(
        "SHOPNET_ORDER_RECOVERY_SECONDS",
        2.0,
        "How often stock held by orders that were never stored (crash, timeout) or were "
        "cancelled is given back; also runs at start.",
    )
    internal_token_file: str = setting(
        "SHOPNET_INTERNAL_TOKEN_FILE",
        "",
        "File (mode 0600) with the token for the product service's internal API; empty: none.",
    )

    def __post_init__(self) -> None:
        DatabaseConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        require_positive(
            SHOPNET_PRODUCT_TIMEOUT_SECONDS=self.product_timeout_seconds,
            SHOPNET_DISCOVERY_WAIT_SECONDS=self.discovery_wait_seconds,
            SHOPNET_IDEMPOTENCY_TTL_SECONDS=self.idempotency_ttl_seconds,
            SHOPNET_ORDER_BUDGET_SECONDS=self.budget_seconds,
            SHOPNET_ORDER_RECOVERY_SECONDS=self.recovery_seconds,
        )
        if not 0 <= self.budget_margin_seconds < self.budget_seconds:
            raise ConfigError(
                "need 0 <= SHOPNET_ORDER_BUDGET_MARGIN_SECONDS < SHOPNET_ORDER_BUDGET_SECONDS"
            )
        if self.product_attempts < 1:
            raise ConfigError("SHOPNET_PRODUCT_ATTEMPTS must be >= 1")
