"""The docker labs on one real docker stack (tiered): start makes `check` fail with the lab's
message, the reference fix makes it pass, `reset` alone restores a stack that passes
`validate`, and `down` leaves nothing of a planted fault on the host."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from shopnet.lab import docker_faults
from shopnet.lab.catalog import DOCKER_LABS
from shopnet.runtime.progress import Progress
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.conftest import leftovers
from tests.docker.helpers import clear_own_leftovers, isolated_topology, shopnet, topology_toml
from tests.e2e.labflow import exercise

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the labs' faults need root (tc, ip link)"),
]

PREFIX = "snl"
NO_COMPAT = {"SHOPNET_COMPAT_PORT": "0"}


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DockerDriver, list[str]]]:
    """The driver of one docker stack, and the global options that reach it from the CLI."""
    topology = isolated_topology(prefix=PREFIX)
    root = tmp_path_factory.mktemp("docker-labs")
    path = root / "topology.toml"
    path.write_text(topology_toml(topology))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOPNET_COMPAT_PORT", "0")
        # Docker's first health check after a restart comes one interval later: the cache
        # lab restarts Redis five times, and waits for it each time.
        env.setenv("SHOPNET_HEALTH_INTERVAL", "1s")
        driver = DockerDriver(topology=topology, root=root / "state", progress=Progress(quiet=True))
        try:
            clear_own_leftovers(driver)
            driver.up(scale={})
            yield driver, ["--state-dir", str(root / "state"), "--topology", str(path)]
        finally:
            driver.down(volumes=True)
            assert leftovers(docker, PREFIX) == []


def lab(args: list[str], *verb: str) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = shopnet(
        *args, "lab", *verb, "--mode", "docker", env=NO_COMPAT
    )
    return result


@pytest.mark.parametrize("name", [lab.name for lab in DOCKER_LABS])
def test_docker_lab_fails_until_fixed_and_reset_alone_restores(
    stack: tuple[DockerDriver, list[str]], name: str
) -> None:
    driver, args = stack

    def run(*verb: str) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = shopnet(
            *args, *verb, "--mode", "docker", env=NO_COMPAT
        )
        return result

    exercise(run, driver, name, all_hints=False)


def test_down_leaves_nothing_of_a_planted_fault_on_the_host(
    stack: tuple[DockerDriver, list[str]],
) -> None:
    """Last: the host ends of a shaped tier's veths and of a shortened leg go with the
    containers; nothing of ours stays in the host's qdiscs or links."""
    driver, args = stack
    assert lab(args, "start", "docker-slow-database-tier").returncode == 0
    docker_faults.plant_mtu(driver, "product-1", "backend", 1200)  # a second fault, by hand
    short = docker_faults.host_veth(driver, "product-1", "backend")
    from shopnet_docker import links

    shaped = links.root_qdiscs(links.links(driver.stack.containers(), "database"))
    hosts = [key.split("/", 1)[1] for key, kind in shaped.items() if key.startswith("host/")]
    assert hosts and all(shaped[f"host/{h}"] == "tbf" for h in hosts), shaped
    down = shopnet(*args, "down", "--mode", "docker", env=NO_COMPAT)
    assert down.returncode == 0, down.stderr
    assert not driver.layout.lab_file.exists()
    for veth in [short, *hosts]:
        gone = subprocess.run(["ip", "link", "show", "dev", veth], capture_output=True)
        assert gone.returncode != 0, f"{veth} outlived `down`"
