"""containers/compose.yaml as its header tells people to run it, with the compose found here:

    docker-compose -f containers/compose.yaml -p shopnet up -d --scale product=3

gives three product instances that register themselves and are balanced by the gateway.
Only the host ports (variables of the file) are moved to free ones and the compose project
is the test's own, so a person's stack data (the `shopnet_pgdata` volume) is neither reused
nor removed; subnets and bridge names are the file's, so no default stack may be *running*.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.topology import default_topology
from shopnet_docker import names, settings
from shopnet_docker.engine import Docker
from shopnet_docker.images import CONTAINERS, BuildReport
from shopnet_docker.preflight import host_routes
from shopnet_docker.secretfiles import VAR_SECRETS_DIR, write_folder
from tests.docker.conftest import leftovers
from tests.docker.helpers import http, wait_until
from tests.support.servers import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PROJECT = "shopnet-e2e-file"
"""Not the file's default `shopnet`: that one is a person's."""
COMPOSE_FILE = CONTAINERS / "compose.yaml"


@pytest.fixture
def compose_env(docker: Docker, images: BuildReport, tmp_path: Path) -> Iterator[dict[str, str]]:
    theirs = leftovers(docker, "shopnet")
    if running := [found for found in theirs if not found.startswith("volume")]:
        # Its networks carry the file's fixed names and subnets: say so before touching anything.
        pytest.fail(
            f"the default docker stack is running ({', '.join(running[:3])}); this test "
            "needs its network names and subnets: `shopnet down --mode docker` first"
        )
    for ifname, network in host_routes():
        for tier in default_topology().tiers:
            if network.prefixlen and tier.subnet.overlaps(network):
                pytest.fail(f"{tier.subnet} is already routed on {ifname}; is another stack up?")
    env = {
        **os.environ,
        names.VAR_IMAGE: names.OFFLINE.service,
        names.VAR_REDIS_IMAGE: names.OFFLINE.redis,
        names.VAR_POSTGRES_IMAGE: names.OFFLINE.postgres,
        names.VAR_PUBLISHED_PORT: str(free_port()),
        names.VAR_COMPAT_PORT: str(free_port()),
    }
    # Every secret, as its header says: `python -m shopnet_docker secrets DIR`.
    write_folder(tmp_path / "secrets", default_topology(), settings.images())
    env[VAR_SECRETS_DIR] = str(tmp_path / "secrets")
    try:
        yield env
    finally:
        down = docker.compose(COMPOSE_FILE, PROJECT, "down", "--volumes", "--remove-orphans",
                              what="compose down", timeout=180, check=False, env=env)  # fmt: skip
        assert down.returncode == 0, down.stdout + down.stderr
        assert ours(docker) == []
        assert leftovers(docker, "shopnet") == theirs  # e.g. a person's volume, still there


def ours(docker: Docker) -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    found = []
    for kind in ("container", "network", "volume"):
        argv = ("ps", "-a", "-q") if kind == "container" else (kind, "ls", "-q")
        found += [f"{kind} {x}" for x in docker.lines(*argv, "--filter", label, what=kind)]
    return found


def test_scaled_to_three_products_registered_and_balanced(
    compose_env: dict[str, str], docker: Docker
) -> None:
    env = compose_env
    up = docker.compose(COMPOSE_FILE, PROJECT, "up", "-d", "--no-build", "--scale", "product=3",
                        what="compose up", timeout=300, check=False, env=env)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    url = f"http://127.0.0.1:{env[names.VAR_PUBLISHED_PORT]}/api/products/1"
    served: set[str] = set()

    def three_instances_answered() -> bool:
        try:
            reply = http("GET", url, timeout=5)
        except OSError:  # `up -d` returns before the gateway listens; docker-proxy hangs up
            return False
        if reply.status == 200:
            served.add(reply.headers["X-Served-By"])
        return len(served) == 3

    wait_until(three_instances_answered, timeout=90, what="three products serving via the gateway")
    registry = next(i for i in default_topology().plan() if i.service.name == "registry")
    catalog = http("GET", f"http://{registry.address}:{registry.port}/v1/services").body
    catalog = catalog["services"]
    assert catalog["product"]["passing"] == 3
    assert catalog["order"]["passing"] == 1
    compat = http("GET", f"http://127.0.0.1:{env[names.VAR_COMPAT_PORT]}/api/products/1")
    assert compat.status == 200
