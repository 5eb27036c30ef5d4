"""`shopnet serve SERVICE`: run one service in the foreground (what every mode starts).

Configuration comes from the environment (see docs/configuration.md); the service's
spec (shopnet.spec: ours, or the one the runtime names in SHOPNET_SERVICE_SPEC) says
which config class and app module to import, and only that service's are imported.
"""

from __future__ import annotations

import importlib
import os

from shopnet import spec as specs
from shopnet.common import logs
from shopnet.common.config import ServiceConfig


def config_class(service: str) -> type[ServiceConfig]:
    return specs.for_serving(service, os.environ.get(specs.SPEC_ENV, "")).config_class()


def run(service: str) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status."""
    spec = specs.for_serving(service, os.environ.get(specs.SPEC_ENV, ""))
    cfg = spec.config_class().from_env(os.environ)
    logs.configure(
        service=service,
        instance_id=cfg.instance_id,
        level=cfg.log_level,
        max_bytes=cfg.log_max_bytes,
        backups=cfg.log_backups,
    )
    app_module = importlib.import_module(spec.app)
    if hasattr(app_module, "run"):
        status: int = app_module.run(cfg)
        return status
    from shopnet.common.app import serve

    serve(app_module.create_app(cfg), cfg)
    return 0
