"""Beside a running dockerd: isolation holds, Docker's rules are left exactly as they were,
and a Docker network in the way is named."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from shopnet.errors import PreflightError
from shopnet_netns import NetworkPlan, build, discover, isolation, teardown
from tests.netns.helpers import REPO, iptables_save, leftovers, root_only, without

pytestmark = [*root_only, pytest.mark.docker]

DOCKER = "/usr/bin/docker"  # Debian's client (a newer one on PATH may not match the engine)


def docker_answers() -> bool:
    return subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def dockerd() -> None:
    """A running dockerd; started (and left running) when none answers."""
    if not shutil.which(DOCKER) or not shutil.which("dockerd"):
        pytest.skip("docker.io is not installed (apt-get install docker.io)")
    if docker_answers():
        return
    ensure = REPO / "containers" / "ensure-dockerd"
    if ensure.exists():
        subprocess.run([str(ensure)], check=True, timeout=120)
    else:
        with open("/var/log/shopnet-dockerd.log", "ab") as log:
            subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while not docker_answers():
        assert time.monotonic() < deadline, "dockerd did not answer within 60 s"
        time.sleep(0.5)


def docker_objects() -> str:
    """Docker's networks and containers: if they change meanwhile, so may its rules."""
    networks = subprocess.run([DOCKER, "network", "ls", "-q"], capture_output=True, text=True)
    containers = subprocess.run([DOCKER, "ps", "-aq"], capture_output=True, text=True)
    return networks.stdout + "|" + containers.stdout


def chain(dump: str, name: str) -> list[str]:
    return [line for line in dump.splitlines() if line.startswith(f"-A {name} ")]


def test_docker_rules_are_unchanged_and_isolation_holds(dockerd: None, clean: NetworkPlan) -> None:
    docker_before = docker_objects()
    before = iptables_save()
    assert ":DOCKER-USER" in before, "dockerd runs but made no DOCKER-USER chain"

    build(clean)
    during = iptables_save()
    ours = [line for line in chain(during, "DOCKER-USER") if "--comment sntest" in line]
    assert len(ours) == 2 * len(clean.bridges)
    # Ours come before Docker's own `-j RETURN`, or they would never be reached.
    assert chain(during, "DOCKER-USER")[-1] == "-A DOCKER-USER -j RETURN"

    results = isolation.check(clean)
    print("\n" + isolation.format_matrix(results))
    assert [r.describe() for r in results if not r.ok] == []

    report = teardown(clean.names)
    assert report.problems == ()
    after = iptables_save()
    if docker_objects() == docker_before:
        assert after == before
        assert without(during, clean.names.comment) == before
    else:  # someone else changed Docker meanwhile: only its user chain is comparable
        assert chain(after, "DOCKER-USER") == chain(before, "DOCKER-USER")
    assert "--comment sntest" not in after


@pytest.fixture
def docker_network(dockerd: None, plan: NetworkPlan) -> Iterator[str]:
    name = "sntest-collide"
    subnet = plan.bridge("database").tier.subnet
    subprocess.run([DOCKER, "network", "rm", name], capture_output=True)
    subprocess.run(
        [DOCKER, "network", "create", "--subnet", str(subnet), name],
        check=True,
        capture_output=True,
    )
    yield name
    subprocess.run([DOCKER, "network", "rm", name], check=True, capture_output=True)


def test_a_docker_network_in_the_way_is_named(clean: NetworkPlan, docker_network: str) -> None:
    with pytest.raises(PreflightError) as error:
        build(clean)
    print(error.value)
    assert f"overlaps Docker network {docker_network}" in str(error.value)
    assert f"docker network rm {docker_network}" in str(error.value)
    assert "host route" not in str(error.value)  # its bridge's route: the same news, once
    assert discover(clean.names).empty
    assert leftovers(clean) == []
