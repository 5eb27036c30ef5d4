"""The cart service's settings: its Redis and the prefix of its keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting


@dataclass(frozen=True, slots=True, kw_only=True)
class CartConfig(ServiceConfig):
    service: ClassVar[str] = "cart"
    default_port: ClassVar[int] = 3003

    redis_url: str = setting("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL of the carts.")
    redis_password_file: str = setting(
        "REDIS_PASSWORD_FILE", "", "File holding the password of the Redis URL's ACL user."
    )
    key_prefix: str = setting(
        "SHOPNET_CART_KEY_PREFIX", "shopnet:cart:", "Prefix of every key (the topology's)."
    )
    ttl_seconds: int = setting("SHOPNET_CART_TTL_SECONDS", 3600, "Lifetime of an idle cart.")
