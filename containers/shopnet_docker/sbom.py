"""A bill of materials per image: its Debian and Python packages, with versions.

Read from the image's own files (dpkg's status database, the `*.dist-info/METADATA`
of every installed Python distribution, the apt sources it was installed from), so
it says what is in the image, not what a Dockerfile asked for. Two builds of one
commit differ only if these differ: the SBOM is the explanation of a new digest.

Written as `<build dir>/sbom/<image>.json`: a small JSON document of our own
(format "shopnet-sbom/1"), simpler than SPDX for the one question it answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from email.parser import HeaderParser
from pathlib import Path

from shopnet_docker.imagefiles import Exported, final_files

FORMAT = "shopnet-sbom/1"
_WANTED = re.compile(
    r"^(var/lib/dpkg/status|etc/apt/sources\.list(\.d/[^/]+)?|.+\.dist-info/METADATA)$"
)


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    where: str
    """Debian: the architecture; Python: the site directory it is installed in."""


@dataclass(frozen=True, slots=True)
class Sbom:
    image: str
    id: str
    source_date_epoch: int
    debian: tuple[Package, ...]
    python: tuple[Package, ...]
    apt_sources: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Sbom:
        data = json.loads(text)
        return cls(
            image=data["image"], id=data["id"], source_date_epoch=data["source_date_epoch"],
            debian=tuple(Package(**p) for p in data["debian"]),
            python=tuple(Package(**p) for p in data["python"]),
            apt_sources=tuple(data["apt_sources"]),
        )  # fmt: skip


def dpkg_installed(status: str) -> list[Package]:
    """Installed packages of a dpkg status file (paragraphs of `Field: value`)."""
    found = []
    for paragraph in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in paragraph.splitlines()
            if ": " in line and line[0] != " "
        )
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            found.append(Package(fields["Package"], fields.get("Version", ""),
                                 fields.get("Architecture", "")))  # fmt: skip
    return sorted(found, key=lambda p: p.name)


def of_image(exported: Exported, *, image: str, image_id: str, epoch: int) -> Sbom:
    debian: list[Package] = []
    python: list[Package] = []
    sources: list[str] = []
    for path, data in final_files(exported, _WANTED):
        text = data.decode("utf-8", errors="replace")
        if path == "var/lib/dpkg/status":
            debian = dpkg_installed(text)
        elif path.startswith("etc/apt/"):
            sources += [f"/{path}: {line}" for line in text.splitlines()
                        if line.strip() and not line.startswith("#")]  # fmt: skip
        else:
            meta = HeaderParser().parsestr(text)
            site = "/" + path.rsplit("/", 2)[0]
            python.append(Package(meta.get("Name", "?"), meta.get("Version", "?"), site))
    return Sbom(
        image=image, id=image_id, source_date_epoch=epoch, debian=tuple(debian),
        python=tuple(sorted(python, key=lambda p: (p.name.lower(), p.where))),
        apt_sources=tuple(sources),
    )  # fmt: skip


def path_for(directory: Path, image: str) -> Path:
    return directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", image) + ".json")


def write(directory: Path, sbom: Sbom) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = path_for(directory, sbom.image)
    path.write_text(sbom.to_json())
    return path


def read(directory: Path, image: str) -> Sbom | None:
    path = path_for(directory, image)
    try:
        return Sbom.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
