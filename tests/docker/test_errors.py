"""Bad input and a machine that is not ready: one clear line, a distinct exit code, nothing left.

Through the `shopnet` command, as a user meets them, on an isolated topology
(prefix `snx`, free subnets and port) so a real stack on this host is never touched.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from pathlib import Path

import pytest

from shopnet.errors import DriverError
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import Layout, StackState
from shopnet.topology import Topology
from shopnet_docker import names
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.conftest import leftovers
from tests.docker.helpers import clear_own_leftovers, isolated_topology, shopnet, topology_toml

pytestmark = pytest.mark.docker

PREFIX = "snx"


@pytest.fixture
def topology() -> Topology:
    return isolated_topology(prefix=PREFIX)


@pytest.fixture(scope="module", autouse=True)
def _clean_slate(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> None:
    driver = DockerDriver(
        topology=isolated_topology(prefix=PREFIX),
        root=tmp_path_factory.mktemp("docker-errors-slate"),
        progress=Progress(quiet=True),
    )
    clear_own_leftovers(driver)


@pytest.fixture
def args(tmp_path: Path, topology: Topology) -> list[str]:
    """Global options of every call: our state directory and topology file."""
    path = tmp_path / "topology.toml"
    path.write_text(topology_toml(topology))
    return ["--state-dir", str(tmp_path / "state"), "--topology", str(path)]


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("shopnet: error: "), stderr
    return lines[0]


def assert_nothing_left(tmp_path: Path, docker: Docker) -> None:
    assert not (tmp_path / "state" / "docker" / "state.json").exists()
    assert leftovers(docker, PREFIX) == []


# Preflight runs before any image is built, so none of these needs the images.
NO_COMPAT = {"SHOPNET_COMPAT_PORT": "0"}


def test_unknown_scale_service(args: list[str], tmp_path: Path, docker: Docker) -> None:
    out = shopnet(*args, "up", "--mode", "docker", "--scale", "cart=2", env=NO_COMPAT)
    assert out.returncode == 2
    assert "unknown service 'cart' (scalable: product, order)" in one_line_error(out.stderr)
    assert_nothing_left(tmp_path, docker)


def test_engine_not_running(args: list[str], tmp_path: Path, docker: Docker) -> None:
    dead = f"unix://{tmp_path}/no-dockerd.sock"
    out = shopnet(*args, "up", "--mode", "docker", env={**NO_COMPAT, "DOCKER_HOST": dead})
    assert out.returncode == 3
    line = one_line_error(out.stderr)
    assert f"the Docker engine at {dead} is not running" in line
    assert "ensure-dockerd" in line
    assert_nothing_left(tmp_path, docker)
    # `down` with no engine and nothing recorded has nothing to do.
    out = shopnet(*args, "down", "--mode", "docker", env={"DOCKER_HOST": dead})
    assert out.returncode == 0, out.stderr


def test_docker_client_missing(args: list[str], tmp_path: Path, docker: Docker) -> None:
    missing = {**NO_COMPAT, "SHOPNET_DOCKER": str(tmp_path / "bin" / "docker")}
    out = shopnet(*args, "up", "--mode", "docker", env=missing)
    assert out.returncode == 3
    assert "docker not found: install it with `apt-get install docker.io`" in one_line_error(
        out.stderr
    )


def test_published_port_taken(
    args: list[str], tmp_path: Path, topology: Topology, docker: Docker
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", topology.published_port))
        squatter.listen()
        out = shopnet(*args, "up", "--mode", "docker", env=NO_COMPAT)
    assert out.returncode == 3
    line = one_line_error(out.stderr)
    assert f"port {topology.published_port} on this host" in line
    assert "is in use" in line
    assert_nothing_left(tmp_path, docker)


def test_compat_port_taken(args: list[str], tmp_path: Path, docker: Docker) -> None:
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        out = shopnet(*args, "up", "--mode", "docker", env={"SHOPNET_COMPAT_PORT": str(port)})
    assert out.returncode == 3
    assert f"port {port} on this host" in one_line_error(out.stderr)
    assert_nothing_left(tmp_path, docker)


def test_subnet_already_in_use(
    args: list[str], tmp_path: Path, topology: Topology, docker: Docker
) -> None:
    clash = f"snx-clash-{uuid.uuid4().hex[:6]}"
    subnet = str(topology.tier("backend").subnet)
    docker.run("network", "create", "--subnet", subnet, "--label", "io.shopnet.test=1", clash,
               what="creating a clashing network")  # fmt: skip
    try:
        out = shopnet(*args, "up", "--mode", "docker", env=NO_COMPAT)
    finally:
        docker.run("network", "rm", clash, what="removing the clashing network")
    assert out.returncode == 3
    assert f"tier backend's subnet {subnet} overlaps" in one_line_error(out.stderr)
    assert_nothing_left(tmp_path, docker)


def test_leftover_state_is_refused_and_down_clears_it(
    args: list[str], tmp_path: Path, docker: Docker
) -> None:
    # What a `shopnet up` killed right after its first step leaves behind.
    StackState(mode="docker", scale={}).save(Layout(tmp_path / "state" / "docker"))
    out = shopnet(*args, "up", "--mode", "docker", env=NO_COMPAT)
    assert out.returncode == 4
    line = one_line_error(out.stderr)
    assert "leftovers of an earlier docker run" in line
    assert "shopnet down --mode docker" in line
    out = shopnet(*args, "down", "--mode", "docker")
    assert out.returncode == 0, out.stderr
    assert_nothing_left(tmp_path, docker)


def test_down_with_nothing_running_is_a_no_op_twice(
    args: list[str], tmp_path: Path, docker: Docker
) -> None:
    for _ in range(2):
        out = shopnet(*args, "down", "--mode", "docker", "--volumes")
        assert out.returncode == 0, out.stderr
    assert_nothing_left(tmp_path, docker)


def test_status_without_a_stack(args: list[str]) -> None:
    out = shopnet(*args, "status", "--mode", "docker")
    assert out.returncode == 4
    assert "no docker stack is running" in one_line_error(out.stderr)


def test_database_volume_without_its_password(
    args: list[str], tmp_path: Path, docker: Docker
) -> None:
    """A `pgdata` volume made under another state directory: its password is unknown here."""
    volume = f"{PREFIX}_pgdata"
    docker.run(
        "volume", "create", "--label", f"com.docker.compose.project={PREFIX}",
        "--label", f"io.shopnet.stack={PREFIX}", volume, what="creating a volume",
    )  # fmt: skip
    try:
        out = shopnet(*args, "up", "--mode", "docker", env=NO_COMPAT)
        assert out.returncode == 3
        line = one_line_error(out.stderr)
        assert f"the database volume {volume} exists, but its password" in line
        assert "--volumes" in line
        assert leftovers(docker, PREFIX) == [f"volume {volume}"]
    finally:
        out = shopnet(*args, "down", "--mode", "docker", "--volumes")
    assert out.returncode == 0, out.stderr
    assert_nothing_left(tmp_path, docker)


@pytest.mark.slow
def test_a_crash_during_up_is_reported_and_everything_removed(
    images: BuildReport, tmp_path: Path, docker: Docker
) -> None:
    """The gateway starts last; starved of memory it dies, and `up` takes the stack down."""
    base = isolated_topology(prefix=PREFIX)
    topology = dataclasses.replace(
        base,
        services=tuple(
            dataclasses.replace(s, memory_mb=6) if s.name == "gateway" else s for s in base.services
        ),
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOPNET_COMPAT_PORT", "0")
        driver = DockerDriver(topology=topology, root=tmp_path, progress=Progress(quiet=True))
        with pytest.raises(DriverError, match=r"gateway-1 \(\S+\) ran out of memory"):
            driver.up(scale={})
        # Data is kept on a failed `up` (as on `down`); containers and networks are gone.
        assert leftovers(docker, PREFIX) == [f"volume {PREFIX}_pgdata"]
        assert not driver.layout.state_file.exists()
        assert driver.down(volumes=True).problems == ()
    assert leftovers(docker, PREFIX) == []


def test_down_sweeps_what_carries_our_labels_and_nothing_else(
    images: BuildReport, args: list[str], tmp_path: Path, docker: Docker
) -> None:
    """Leftovers of a crash (no state file, compose not even installed) are found by label;
    look-alikes without both of our labels are left alone."""
    tag = uuid.uuid4().hex[:6]
    ours = [
        "--label",
        f"com.docker.compose.project={PREFIX}",
        "--label",
        f"io.shopnet.stack={PREFIX}",
    ]
    docker.run("network", "create", *ours, f"{PREFIX}_left_{tag}", what="network")
    docker.run("run", "-d", *ours, "--network", f"{PREFIX}_left_{tag}", "--name",
               f"{PREFIX}_left_{tag}", "shopnet/debian:bookworm", "sleep", "300", what="run")  # fmt: skip
    lookalikes = {
        f"{PREFIX}_foreign_{tag}": ["--label", f"com.docker.compose.project={PREFIX}"],
        f"{PREFIX}_plain_{tag}": [],
    }
    for name, labels in lookalikes.items():
        docker.run("run", "-d", *labels, "--name", name, "shopnet/debian:bookworm", "sleep",
                   "300", what="run")  # fmt: skip
    try:
        out = shopnet(*args, "down", "--mode", "docker", env={"SHOPNET_COMPOSE": "/nonexistent"})
        assert out.returncode == 0, out.stderr
        assert f"removed container {PREFIX}_left_{tag}" in out.stderr
        assert f"removed network {PREFIX}_left_{tag}" in out.stderr
        assert_nothing_left(tmp_path, docker)
        running = docker.lines("ps", "--format", "{{.Names}}", what="ps")
        assert set(lookalikes) <= set(running)
    finally:
        for name in lookalikes:
            docker.run("rm", "-f", name, what="cleanup", check=False)


def test_preloaded_images_are_used_as_named_and_never_built(
    args: list[str], tmp_path: Path, topology: Topology, docker: Docker
) -> None:
    """SHOPNET_DOCKER_IMAGES=preloaded (the Nix launchers): a missing image is an error."""
    env = {
        **NO_COMPAT,
        "SHOPNET_DOCKER_IMAGES": "preloaded",
        "SHOPNET_REDIS_IMAGE": f"{PREFIX}/not-loaded:{uuid.uuid4().hex[:6]}",
    }
    out = shopnet(*args, "up", "--mode", "docker", env=env)
    assert out.returncode == 3
    line = one_line_error(out.stderr)
    assert f"image {env['SHOPNET_REDIS_IMAGE']} is not loaded" in line
    assert_nothing_left(tmp_path, docker)
    out = shopnet(*args, "up", "--mode", "docker", "--build", env=env)
    assert out.returncode == 2
    assert "preloaded runs images as they are" in one_line_error(out.stderr)
    out = shopnet(*args, "up", "--mode", "docker", env={**NO_COMPAT, "SHOPNET_DOCKER_IMAGES": "x"})
    assert out.returncode == 2
    assert "expected offline, official, preloaded" in one_line_error(out.stderr)
    # What compose is told to run: exactly the names given.
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        driver = DockerDriver(topology=topology, root=tmp_path, progress=Progress(quiet=True))
        compose_env = driver._compose_env(password=False)
    assert compose_env["SHOPNET_REDIS_IMAGE"] == env["SHOPNET_REDIS_IMAGE"]
    assert compose_env["SHOPNET_IMAGE"] == names.SERVICE_IMAGE
