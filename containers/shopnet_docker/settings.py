"""What the environment decides for a docker stack: which images, which second host port.

SHOPNET_DOCKER_IMAGES picks the images: `offline` (default: built here from Debian
packages), `official` (python:3.11-slim-based service image, official redis and
postgres, pulled), `preloaded` (whatever SHOPNET_IMAGE / SHOPNET_REDIS_IMAGE /
SHOPNET_POSTGRES_IMAGE name, e.g. loaded from Nix; never built or pulled).
SHOPNET_COMPAT_PORT picks the gateway's second host port (default: the gateway's
own port, 3000; 0: any free one).
"""

from __future__ import annotations

import os

from shopnet.errors import ConfigError
from shopnet.topology.model import Topology
from shopnet_docker import images as image_build
from shopnet_docker import names, secretfiles
from shopnet_docker.compose import published_service
from shopnet_docker.health import DRIVER_INTERVAL as DRIVER_HEALTH_INTERVAL

IMAGES_ENV = "SHOPNET_DOCKER_IMAGES"
IMAGE_SOURCES = ("offline", "official", "preloaded")


def image_source() -> str:
    source = os.environ.get(IMAGES_ENV, "").strip().lower() or "offline"
    if source not in IMAGE_SOURCES:
        raise ConfigError(f"{IMAGES_ENV}={source!r}: expected {', '.join(IMAGE_SOURCES)}")
    return source


def images() -> names.Images:
    if image_source() == "preloaded":
        return names.Images(
            service=os.environ.get(names.VAR_IMAGE) or names.OFFLINE.service,
            redis=os.environ.get(names.VAR_REDIS_IMAGE) or names.OFFLINE.redis,
            postgres=os.environ.get(names.VAR_POSTGRES_IMAGE) or names.OFFLINE.postgres,
        )
    return image_build.images_for(offline=image_source() == "offline")


def compat_port(topology: Topology) -> int:
    """The gateway's second host port (0: any free one)."""
    raw = os.environ.get(names.VAR_COMPAT_PORT, "").strip()
    if not raw:
        return published_service(topology).port
    if not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise ConfigError(f"{names.VAR_COMPAT_PORT}={raw!r} is not a port (0: any free one)")
    if int(raw) == topology.published_port:
        raise ConfigError(
            f"{names.VAR_COMPAT_PORT}={raw} is the published port already; pick another"
        )
    return int(raw)


SERVICE_UID = secretfiles.SERVICE_UID


def compose_env(topology: Topology) -> dict[str, str]:
    """The environment compose runs with: our variables over the caller's."""
    env = dict(os.environ)
    chosen = images()
    env.update(
        {
            names.VAR_IMAGE: chosen.service,
            names.VAR_REDIS_IMAGE: chosen.redis,
            names.VAR_POSTGRES_IMAGE: chosen.postgres,
            names.VAR_PUBLISHED_PORT: str(topology.published_port),
            names.VAR_COMPAT_PORT: str(compat_port(topology)),
        }
    )
    # `up` runs each new container's check itself (health.py), so Docker's can be rare.
    env.setdefault(names.VAR_HEALTH_INTERVAL, DRIVER_HEALTH_INTERVAL)
    return env
