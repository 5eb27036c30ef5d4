from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig(ServiceConfig):
    service: ClassVar[str] = "registry"
    default_port: ClassVar[int] = 8500

    register: bool = setting("SHOPNET_REGISTER", False, "The registry does not register itself.")
    sweep_seconds: float = setting(
        "SHOPNET_REGISTRY_SWEEP_SECONDS", 0.25, "How often TTL expiry is turned into watch events."
    )
    max_wait_seconds: float = setting(
        "SHOPNET_REGISTRY_MAX_WAIT_SECONDS", 60.0, "Longest long-poll a watcher may ask for."
    )
