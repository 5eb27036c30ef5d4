"""What the docker tests share besides the engine and images (tests/conftest.py has those)."""

from __future__ import annotations

from shopnet_docker.engine import Docker


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
