"""The docker driver's parts that need no engine: its settings, parsing, and the engine seam."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shopnet.errors import ConfigError, PreflightError
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from shopnet_docker import health, names, settings, status
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from shopnet_docker.stack import Container
from shopnet_docker.stoptimes import stop_times


class Podman(Docker):
    """What a second engine that speaks the docker CLI amounts to."""


def test_the_engine_is_passed_in(tmp_path: Path) -> None:
    engine = Podman(binary=str(tmp_path / "podman"))
    driver = DockerDriver(
        topology=default_topology(), root=tmp_path, progress=Progress(quiet=True), engine=engine
    )
    assert driver.docker is engine and driver.stack.docker is engine
    with pytest.raises(PreflightError, match="podman not found"):
        driver.status()


def test_compat_port_defaults_to_the_gateways_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topology = default_topology()
    monkeypatch.delenv(names.VAR_COMPAT_PORT, raising=False)
    assert settings.compat_port(topology) == 3000
    monkeypatch.setenv(names.VAR_COMPAT_PORT, "0")
    assert settings.compat_port(topology) == 0
    for bad, says in (("http", "is not a port"), ("8080", "is the published port already")):
        monkeypatch.setenv(names.VAR_COMPAT_PORT, bad)
        with pytest.raises(ConfigError, match=says):
            settings.compat_port(topology)


def test_image_source_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.IMAGES_ENV, "Preloaded")
    monkeypatch.setenv(names.VAR_REDIS_IMAGE, "mine/redis:1")
    assert settings.images().redis == "mine/redis:1"
    assert settings.images().service == names.OFFLINE.service
    monkeypatch.setenv(settings.IMAGES_ENV, "nightly")
    with pytest.raises(ConfigError, match="expected offline, official, preloaded"):
        settings.image_source()


def test_docker_stats_figures_are_parsed() -> None:
    assert status._percent("12.5%") == 12.5
    assert status._percent("--") is None
    assert status._mebibytes("512MiB ") == 512
    assert status._mebibytes("1.5GiB") == 1536
    assert status._mebibytes("2kB") == pytest.approx(2000 / 2**20)
    assert status._mebibytes("lots") is None


def test_up_starts_one_level_of_dependencies_at_a_time() -> None:
    levels = [[s.name for s in level] for level in health.dependency_levels(default_topology())]
    assert levels == [["postgres", "redis", "registry"], ["product"], ["order"], ["gateway"]]


def test_the_driver_runs_a_containers_own_health_test() -> None:
    assert health.exec_argv(("CMD", "redis-cli", "ping")) == ["redis-cli", "ping"]
    assert health.exec_argv(("CMD-SHELL", "pg_isready -q")) == ["/bin/sh", "-c", "pg_isready -q"]
    assert health.exec_argv(("NONE",)) is None and health.exec_argv(()) is None


def test_the_last_exit_of_a_restarted_container_comes_from_the_events() -> None:
    def container(**state: Any) -> Container:
        base: dict[str, Any] = dict(id="c1", name="snt-product-1", service="product", number=1, state="running",
                    health="healthy", exit_code=0, oom_killed=False, restarts=0, pid=9)  # fmt: skip
        return Container(**{**base, **state})

    assert status.last_exit(container(), {}) == ""
    assert status.last_exit(container(state="exited", exit_code=3), {}) == "exit 3"
    # Running again: Docker's State.ExitCode is back to 0, the engine's `die` event has it.
    assert status.last_exit(container(restarts=2), {"c1": "137"}) == "exit 137"
    assert status.last_exit(container(restarts=2), {}) == "exit ?"


@pytest.mark.docker
def test_stop_times_come_from_the_engines_events(docker: Docker, images: BuildReport) -> None:
    """One container drains in 0.3 s on SIGTERM, one ignores it and is killed after 1 s."""
    label = "io.shopnet.stack=sn-stoptimes-test"
    names_ = {"sn-stoptimes-drains": "sleep 0.3; exit 0", "sn-stoptimes-ignores": ""}
    docker.run("rm", "-f", *names_, what="clearing", check=False)
    ids = [
        docker.run(
            "run", "-d", "--label", label, "--name", name, "--entrypoint", "sh",
            names.OFFLINE.service, "-c", f'trap "{trap}" TERM; while :; do sleep 0.1; done',
            what="docker run",
        ).stdout.strip()
        for name, trap in names_.items()
    ]  # fmt: skip
    try:
        since = time.time()
        docker.run("stop", "-t", "1", *names_, what="docker stop", check=False)
        stopped = {s.name: s for s in stop_times(docker, ids, since=since, until=time.time())}
    finally:
        docker.run("rm", "-f", *names_, what="removing", check=False)
    drains, ignores = stopped["sn-stoptimes-drains"], stopped["sn-stoptimes-ignores"]
    assert not drains.killed and drains.exit_code == "0" and 0.2 < drains.seconds < 0.9
    assert ignores.killed and ignores.exit_code == "137" and 0.9 < ignores.seconds < 3


@pytest.mark.docker
def test_a_container_we_force_remove_did_not_ignore_a_stop_signal(
    docker: Docker, images: BuildReport
) -> None:
    """The sweep's `rm -f` (a crash's leftovers) sends SIGKILL first: no stop signal ignored."""
    name = "sn-stoptimes-swept"
    docker.run("rm", "-f", name, what="clearing", check=False)
    since = time.time()
    cid = docker.run(
        "run", "-d", "--label", "io.shopnet.stack=sn-stoptimes-test", "--name", name,
        names.OFFLINE.service, "sleep", "300", what="docker run",
    ).stdout.strip()  # fmt: skip
    docker.run("rm", "-f", name, what="rm -f")
    (swept,) = stop_times(docker, [cid], since=since, until=time.time())
    assert swept.exit_code == "137" and not swept.killed


def test_the_first_build_in_a_fresh_state_directory_makes_its_build_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench builds images under a state directory of its own: no build/ there yet."""
    from types import SimpleNamespace

    from shopnet_docker import offline

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    root = tmp_path / "state" / "build"
    # A stand-in build: main_store reads only its dated_by.
    built = [SimpleNamespace(dated_by=())]
    store = offline.main_store(root, built, source_root=tmp_path)  # type: ignore[arg-type]
    assert store.root == root / "buildah-1700000000"
    assert offline.current_store(root).root == store.root
