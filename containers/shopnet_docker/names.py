"""Names and labels of everything the docker mode creates, and the images it runs.

Compose names containers, networks and volumes after the project (the topology's
prefix, `shopnet`) and labels them `com.docker.compose.project=<project>`. Our own
`io.shopnet.*` labels say what each object is, so `down` finds everything by label
(never by a name pattern) even after a crash mid-`up`. Bridges get fixed names,
`snd-<tier>` ("shopnet docker"), so tcpdump and tc can find them; the netns mode
owns the topology's `br-*` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shopnet import __version__
from shopnet.errors import ConfigError

IFNAMSIZ = 15
"""Longest Linux interface name."""

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_NETWORK = "com.docker.compose.network"
COMPOSE_VOLUME = "com.docker.compose.volume"

LABEL_STACK = "io.shopnet.stack"
"""On every container, network and volume of a stack: the project name."""
LABEL_SERVICE = "io.shopnet.service"
LABEL_TIER = "io.shopnet.tier"
LABEL_SOURCE_DIGEST = "io.shopnet.source-digest"
"""On the service image: digest of the sources it was built from (stale-image check)."""

DB_VOLUME = "pgdata"
"""Named volume holding PostgreSQL's data directory."""

# Variables the compose file reads, with the defaults written into it.
VAR_IMAGE = "SHOPNET_IMAGE"
VAR_BASE_IMAGE = "SHOPNET_BASE_IMAGE"
VAR_REDIS_IMAGE = "SHOPNET_REDIS_IMAGE"
VAR_POSTGRES_IMAGE = "SHOPNET_POSTGRES_IMAGE"
VAR_PUBLISHED_PORT = "SHOPNET_PUBLISHED_PORT"
VAR_COMPAT_PORT = "SHOPNET_COMPAT_PORT"
"""Second published port: the gateway's own port (3000), which the original setup published."""
VAR_HEALTH_INTERVAL = "SHOPNET_HEALTH_INTERVAL"
"""Time between health checks (default 5s; each check is a `docker exec`)."""

_PROJECT = re.compile(r"^[a-z][a-z0-9]{0,19}$")


def project(prefix: str) -> str:
    """Compose project name of a topology (its prefix), checked for Compose's rules."""
    if not _PROJECT.match(prefix):
        raise ConfigError(
            f"prefix {prefix!r} must be lowercase letters and digits, starting with a letter, "
            "at most 20 characters (it names the compose project)"
        )
    return prefix


def bridge(prefix: str, tier: str) -> str:
    """Host bridge of a tier's network: `snd-frontend` for the default prefix, else `<prefix>d-…`."""
    short = "sn" if prefix == "shopnet" else prefix
    name = f"{short}d-{tier}"
    if len(name) > IFNAMSIZ:
        raise ConfigError(
            f"docker bridge name {name!r} is longer than {IFNAMSIZ} characters; "
            "use a shorter prefix or tier name"
        )
    return name


@dataclass(frozen=True, slots=True)
class Images:
    """The images a stack runs."""

    service: str
    """One image for registry, product, order and gateway (`shopnet serve <service>`)."""
    redis: str
    postgres: str


DEBIAN_BASE = "shopnet/debian:bookworm"
"""Debian minbase from mmdebstrap: the root of every offline image."""
PYTHON_BASE = "shopnet/python-base:bookworm"
"""DEBIAN_BASE plus Debian's python3 and venv: BASE_IMAGE of the offline service image."""
OFFICIAL_PYTHON_BASE = "python:3.11-slim"

SERVICE_IMAGE = f"shopnet/service:{__version__}"

OFFLINE = Images(
    service=SERVICE_IMAGE,
    redis="shopnet/redis:7-bookworm",
    postgres="shopnet/postgres:15-bookworm",
)
"""Built here from Debian packages; nothing is pulled."""
OFFICIAL = Images(service=SERVICE_IMAGE, redis="redis:7-bookworm", postgres="postgres:15-bookworm")
"""What the compose file names by default: the Docker Hub images users pull."""
