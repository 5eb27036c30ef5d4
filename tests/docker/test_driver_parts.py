"""The docker driver's parts that need no engine: its settings, parsing, and the engine seam."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopnet.errors import ConfigError, PreflightError
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from shopnet_docker import names, settings, status
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker


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
