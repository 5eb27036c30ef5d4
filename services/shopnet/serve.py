"""`shopnet serve SERVICE`: run one service in the foreground (what every mode starts).

Configuration comes from the environment (see docs/configuration.md); the
service modules are imported only for the service asked for.
"""

from __future__ import annotations

import importlib
import os

from shopnet.common import logs
from shopnet.common.config import ServiceConfig
from shopnet.errors import ConfigError

# service → (config class, app module); the app module has create_app(cfg),
# and may have run(cfg) when it manages its own processes (gateway workers).
SERVICES: dict[str, tuple[str, str]] = {
    "registry": ("shopnet.registry.config:RegistryConfig", "shopnet.registry.app"),
    "product": ("shopnet.product.config:ProductConfig", "shopnet.product.app"),
    "order": ("shopnet.order.config:OrderConfig", "shopnet.order.app"),
    "gateway": ("shopnet.gateway.config:GatewayConfig", "shopnet.gateway.app"),
}


def config_class(service: str) -> type[ServiceConfig]:
    try:
        target = SERVICES[service][0]
    except KeyError:
        raise ConfigError(f"unknown service {service!r}; services: {', '.join(SERVICES)}") from None
    module, _, name = target.partition(":")
    config: type[ServiceConfig] = getattr(importlib.import_module(module), name)
    return config


def run(service: str) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status."""
    cfg = config_class(service).from_env(os.environ)
    logs.configure(
        service=service,
        instance_id=cfg.instance_id,
        level=cfg.log_level,
        max_bytes=cfg.log_max_bytes,
        backups=cfg.log_backups,
    )
    app_module = importlib.import_module(SERVICES[service][1])
    if hasattr(app_module, "run"):
        status: int = app_module.run(cfg)
        return status
    from shopnet.common.app import serve

    serve(app_module.create_app(cfg), cfg)
    return 0
