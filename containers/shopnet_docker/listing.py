"""`shopnet images list`: the images of the docker mode, each with its bill of materials."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shopnet_docker import names, sbom
from shopnet_docker import offline as offline_build
from shopnet_docker.engine import Docker
from shopnet_docker.images import images_for
from shopnet_docker.inventory import image_id, image_size


@dataclass(frozen=True, slots=True)
class ListedImage:
    name: str
    id: str | None
    """None when Docker has no such image."""
    size_bytes: int
    sbom: sbom.Sbom | None
    """What the last offline build recorded, if it made this very image."""


def list_images(
    *, offline: bool = True, docker: Docker | None = None, build_dir: Path | None = None
) -> list[ListedImage]:
    """The images of the docker mode as Docker has them, each with its SBOM."""
    docker = docker or Docker()
    docker.ping()
    images = images_for(offline=offline)
    tags = [names.DEBIAN_BASE, names.PYTHON_BASE] if offline else []
    tags += [images.service, images.redis, images.postgres]
    directory = (build_dir or offline_build.default_build_dir()) / "sbom"
    listed = []
    for tag in tags:
        ident = image_id(docker, tag)
        record = sbom.read(directory, tag) if ident else None
        listed.append(
            ListedImage(
                tag, ident, image_size(docker, tag) if ident else 0,
                record if record is not None and record.id == ident else None,
            )
        )  # fmt: skip
    return listed


def listing_lines(listed: list[ListedImage], *, packages: bool = False) -> list[str]:
    out = []
    for image in listed:
        if image.id is None:
            out.append(f"{image.name:<32} (not built)")
            continue
        head = f"{image.name:<32} {image.id[:19]}  {image.size_bytes / 1e6:7.1f} MB"
        if image.sbom is None:
            out.append(f"{head}  no SBOM (not built by this machine's offline build)")
            continue
        bom = image.sbom
        out.append(
            f"{head}  {len(bom.debian)} Debian + {len(bom.python)} Python packages, "
            f"SOURCE_DATE_EPOCH={bom.source_date_epoch}"
        )
        if packages:
            out += [f"    deb {p.name} {p.version} {p.where}" for p in bom.debian]
            out += [f"    py  {p.name} {p.version} {p.where}" for p in bom.python]
            out += [f"    apt {line}" for line in bom.apt_sources]
    return out
