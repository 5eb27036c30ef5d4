"""Fixtures of the docker tests: the engine, the images (built once per session, offline)."""

from __future__ import annotations

import pytest

from shopnet.errors import PreflightError
from shopnet.runtime.progress import Progress
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport, build_images


@pytest.fixture(scope="session")
def docker() -> Docker:
    """A running Docker engine; the docker tests fail (not skip) without one."""
    engine = Docker()
    try:
        engine.ping()
    except PreflightError as exc:
        pytest.fail(f"the docker tests need a Docker engine: {exc}")
    return engine


@pytest.fixture(scope="session")
def images(docker: Docker) -> BuildReport:
    """Every image, built offline by the same function `shopnet images build` runs.

    Cached layers make this a second or two once the base exists (about a minute cold).
    """
    return build_images(Progress(quiet=True), docker=docker)


def leftovers(docker: Docker, project: str) -> list[str]:
    """Containers, networks and volumes still labelled with `project`."""
    label = f"label=io.shopnet.stack={project}"
    found = []
    for kind, argv in (
        ("container", ("ps", "-a", "-q", "--filter", label)),
        ("network", ("network", "ls", "-q", "--filter", label)),
        ("volume", ("volume", "ls", "-q", "--filter", label)),
    ):
        found += [f"{kind} {x}" for x in docker.lines(*argv, what=f"listing {kind}s")]
    return found
