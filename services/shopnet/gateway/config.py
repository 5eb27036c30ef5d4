"""The gateway's settings: timeouts, retries, outlier ejection, workers, discovery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shopnet.common.config import ServiceConfig, setting
from shopnet.errors import ConfigError
from shopnet.gateway.edge import parse_networks
from shopnet.gateway.routes import parse_routes

DISCOVERIES = ("registry", "dns")


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig(ServiceConfig):
    service: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 3000
    default_admin_port: ClassVar[int] = 9080
    """The public edge keeps /ready and /metrics off its public port."""

    try_timeout_seconds: float = setting(
        "SHOPNET_GATEWAY_TRY_TIMEOUT_SECONDS",
        2.0,
        "Time one upstream try may take (connect, send, answer, body).",
    )
    connect_timeout_seconds: float = setting(
        "SHOPNET_GATEWAY_CONNECT_TIMEOUT_SECONDS",
        0.5,
        "Time to get a connection to an instance; on expiry any method is retried elsewhere.",
    )
    total_timeout_seconds: float = setting(
        "SHOPNET_GATEWAY_TOTAL_TIMEOUT_SECONDS",
        5.0,
        "Time for all tries of one request together (504 when it runs out).",
    )
    retries: int = setting(
        "SHOPNET_GATEWAY_RETRIES", 2, "Retries after the first try, each on another instance."
    )
    eject_after: int = setting(
        "SHOPNET_GATEWAY_EJECT_AFTER",
        5,
        "Consecutive failures (connect error, timeout, 5xx) that eject an instance.",
    )
    base_ejection_seconds: float = setting(
        "SHOPNET_GATEWAY_BASE_EJECTION_SECONDS",
        10.0,
        "Ejection time; multiplied by how often the instance was ejected before.",
    )
    max_ejection_seconds: float = setting(
        "SHOPNET_GATEWAY_MAX_EJECTION_SECONDS", 300.0, "Longest ejection."
    )
    routes: str = setting(
        "SHOPNET_GATEWAY_ROUTES",
        "",
        "The routing table, `/prefix=service:/upstream[:public-reads]`, comma-separated: the "
        "runtime's, from the specs of the services the topology lets the gateway call "
        "(empty: our product and order services').",
    )
    idempotent_services: str = setting(
        "SHOPNET_GATEWAY_IDEMPOTENT_SERVICES",
        "order",
        "Comma-separated services that honour Idempotency-Key: only their writes carrying "
        "one are retried after they were sent.",
    )
    workers: int = setting(
        "SHOPNET_GATEWAY_WORKERS",
        1,
        "Worker processes sharing the port (SO_REUSEPORT); metrics are aggregated over all.",
    )
    watch_wait_seconds: float = setting(
        "SHOPNET_GATEWAY_WATCH_WAIT_SECONDS", 30.0, "Longest registry long-poll of a watch."
    )
    startup_sync_seconds: float = setting(
        "SHOPNET_GATEWAY_STARTUP_SYNC_SECONDS",
        5.0,
        "At start, how long to wait for the registry's first answer before listening anyway.",
    )
    discovery: str = setting(
        "SHOPNET_GATEWAY_DISCOVERY",
        "registry",
        "Where upstream instances come from: `registry` (a long-poll watch) or `dns` (the "
        "addresses each service's name resolves to, e.g. Docker's embedded DNS, re-resolved).",
    )
    dns_names: str = setting(
        "SHOPNET_GATEWAY_DNS_NAMES",
        "",
        "With dns discovery: `service=name:port` for every routed service, comma-separated "
        "(e.g. `product=product:3001,order=order:3002`).",
    )
    dns_interval_seconds: float = setting(
        "SHOPNET_GATEWAY_DNS_INTERVAL_SECONDS",
        1.0,
        "With dns discovery: how often each name is resolved again.",
    )
    upstream_connections: int = setting(
        "SHOPNET_GATEWAY_UPSTREAM_CONNECTIONS",
        512,
        "Most requests in flight to all upstream instances together (one connection each), per worker.",
    )
    upstream_connections_per_instance: int = setting(
        "SHOPNET_GATEWAY_UPSTREAM_CONNECTIONS_PER_INSTANCE",
        128,
        "Most requests in flight to one upstream instance (one connection each), per worker.",
    )
    upstream_keepalive_seconds: float = setting(
        "SHOPNET_GATEWAY_UPSTREAM_KEEPALIVE_SECONDS",
        30.0,
        "How long an idle upstream connection is kept (below the upstreams' own 75 s).",
    )

    trusted_proxies: str = setting(
        "SHOPNET_GATEWAY_TRUSTED_PROXIES",
        "",
        "Comma-separated networks of proxies whose X-Forwarded-For/Forwarded are kept; "
        "anyone else's are replaced by the peer address.",
    )
    token_key_file: str = setting(
        "SHOPNET_GATEWAY_TOKEN_KEY_FILE",
        "",
        "File (0600) with the stack's token signing key (hex); empty: no token is accepted, "
        "so catalog writes and orders are refused (401).",
    )
    rate_per_second: float = setting(
        "SHOPNET_GATEWAY_RATE_PER_SECOND",
        50.0,
        "Requests per second per customer token, and per client address for anonymous reads "
        "(admin tokens are not limited; 0: no limit). Per worker.",
    )
    rate_burst: int = setting(
        "SHOPNET_GATEWAY_RATE_BURST", 100, "Requests a caller may send at once above the rate."
    )
    max_header_bytes: int = setting(
        "SHOPNET_GATEWAY_MAX_HEADER_BYTES",
        8190,
        "Longest request target and header name or value forwarded (414/431 above); "
        "aiohttp upstreams accept 8190.",
    )
    max_head_bytes: int = setting(
        "SHOPNET_GATEWAY_MAX_HEAD_BYTES",
        32768,
        "Most bytes of request headers in total (431 above).",
    )

    def __post_init__(self) -> None:
        ServiceConfig.__post_init__(self)
        parse_networks(self.trusted_proxies)  # ConfigError at start, not per request
        parse_routes(self.routes)
        for name in (
            "try_timeout_seconds",
            "connect_timeout_seconds",
            "total_timeout_seconds",
            "base_ejection_seconds",
            "max_ejection_seconds",
            "watch_wait_seconds",
            "startup_sync_seconds",
            "upstream_keepalive_seconds",
            "dns_interval_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        for name in (
            "eject_after",
            "workers",
            "upstream_connections",
            "max_header_bytes",
            "max_head_bytes",
            "rate_burst",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.rate_per_second < 0:
            raise ConfigError("SHOPNET_GATEWAY_RATE_PER_SECOND must be ≥ 0")
        if not 0 <= self.retries <= 10:
            raise ConfigError("SHOPNET_GATEWAY_RETRIES must be between 0 and 10")
        if self.upstream_connections_per_instance < 0:
            raise ConfigError("SHOPNET_GATEWAY_UPSTREAM_CONNECTIONS_PER_INSTANCE must be ≥ 0")
        if self.discovery not in DISCOVERIES:
            raise ConfigError(
                f"SHOPNET_GATEWAY_DISCOVERY={self.discovery!r}: expected {' or '.join(DISCOVERIES)}"
            )
        self.dns_targets()  # a malformed SHOPNET_GATEWAY_DNS_NAMES fails at start

    def dns_targets(self) -> dict[str, tuple[str, int]]:
        """SHOPNET_GATEWAY_DNS_NAMES as service → (name, port)."""
        targets: dict[str, tuple[str, int]] = {}
        for item in filter(None, (part.strip() for part in self.dns_names.split(","))):
            service, _, target = item.partition("=")
            name, _, port = target.rpartition(":")
            if not (service and name and port.isdigit() and 0 < int(port) < 65536):
                raise ConfigError(f"SHOPNET_GATEWAY_DNS_NAMES: {item!r} is not service=name:port")
            targets[service.strip()] = (name.strip(), int(port))
        return targets
