"""What Docker has of an image: its id, labels, size; removing the one a rebuild replaced."""

from __future__ import annotations

import json

from shopnet_docker.engine import Docker


def image_labels(docker: Docker, tag: str) -> dict[str, str] | None:
    """The image's labels, or None when there is no such image."""
    out = docker.run(
        "image", "inspect", "--format", "{{json .Config.Labels}}", tag,
        what=f"inspect image {tag}", check=False,
    )  # fmt: skip
    if out.returncode != 0:
        return None
    return json.loads(out.stdout or "null") or {}


def image_id(docker: Docker, tag: str) -> str | None:
    out = docker.run(
        "image", "inspect", "--format", "{{.Id}}", tag, what=f"inspect {tag}", check=False
    )
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def drop_superseded(docker: Docker, old: str | None, tag: str) -> None:
    """Remove the image `tag` named before a rebuild, so rebuilds leave no untagged images.

    Only that one image, by id, and never by force: if a container still uses it,
    it stays.
    """
    if old is not None and old != image_id(docker, tag):
        docker.run("image", "rm", old, what=f"removing the previous {tag}", check=False)


def image_size(docker: Docker, tag: str) -> int:
    out = docker.run("image", "inspect", "--format", "{{.Size}}", tag, what=f"inspect {tag}")
    return int(out.stdout.strip() or 0)
