from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting
from shopnet.errors import ConfigError
from shopnet.registry.admission import parse_subnets


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
    allowed_subnets: str = setting(
        "SHOPNET_REGISTRY_ALLOWED_SUBNETS",
        "*=127.0.0.0/8",
        "Where each service may register: `service=cidr,cidr;…` (`*`: any other service).",
    )
    check_peer_address: bool = setting(
        "SHOPNET_REGISTRY_CHECK_PEER_ADDRESS",
        True,
        "A registered address must be the address the registration came from.",
    )
    tokens_file: str = setting(
        "SHOPNET_REGISTRY_TOKENS_FILE",
        "",
        "File of `service sha256-hex` lines: the SHA-256 of each service's registry token and "
        "the one service it may write (`*`: any, for tests).",
    )
    max_instances: int = setting(
        "SHOPNET_REGISTRY_MAX_INSTANCES", 1024, "Most instances the registry holds (507 above)."
    )
    max_services: int = setting(
        "SHOPNET_REGISTRY_MAX_SERVICES",
        256,
        "Most service names registered or watched at once (507 above).",
    )

    def __post_init__(self) -> None:
        ServiceConfig.__post_init__(self)
        if not self.tokens_file:
            raise ConfigError(
                "the registry needs SHOPNET_REGISTRY_TOKENS_FILE: no token, no writes"
            )
        parse_subnets(self.allowed_subnets)  # ConfigError now rather than at the first write
        if self.max_instances < 1 or self.max_services < 1:
            raise ConfigError("SHOPNET_REGISTRY_MAX_INSTANCES and _MAX_SERVICES must be at least 1")
