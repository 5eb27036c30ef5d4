"""Building the images: `build_images()` (`shopnet images build`), `list_images()`.

Offline (the default: nothing is pulled from any registry), built with buildah and
loaded into Docker, reproducibly (offline.py; why buildah: buildah.py):

    mmdebstrap minbase bookworm + containers/debian/Dockerfile →  shopnet/debian:bookworm
    containers/base/Dockerfile       (+ python3, venv)      →  shopnet/python-base:bookworm
    containers/Dockerfile            (the four services)    →  shopnet/service:<version>
    containers/redis/Dockerfile      (Debian redis-server)  →  shopnet/redis:7-bookworm
    containers/postgres/Dockerfile   (Debian postgresql-15) →  shopnet/postgres:15-bookworm

Online (`offline=False`): `docker build` on python:3.11-slim, and the official redis
and postgres images are pulled. Either way the services' Python dependencies come
from the wheelhouse (see wheelhouse.py).

Every step is cached, so a rebuild with no change takes seconds. Each image carries
a digest of the files it was built from, so `up` can tell a stale image from a
current one.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shopnet import __version__
from shopnet.errors import ConfigError, DriverError, PreflightError
from shopnet.runtime.progress import Progress
from shopnet_docker import debian_base, names, wheelhouse
from shopnet_docker import offline as offline_build
from shopnet_docker.buildah import Buildah
from shopnet_docker.engine import Docker
from shopnet_docker.inventory import drop_superseded, image_id, image_labels, image_size
from shopnet_docker.reproducible import Comparison

CONTAINERS = Path(__file__).resolve().parents[1]
"""containers/ of the source checkout (Dockerfiles, lock, wheelhouse)."""
SOURCE_ROOT = CONTAINERS.parent
BUILD_TIMEOUT = 1800.0


@dataclass(frozen=True, slots=True)
class BuiltImage:
    name: str
    size_bytes: int
    seconds: float
    """Time this run spent on it (0 when it was already there and nothing was rebuilt)."""
    action: str
    """built / loaded / pulled / kept."""
    id: str = ""
    """Docker's image id (sha256 of the config)."""


@dataclass(frozen=True, slots=True)
class BuildReport:
    images: tuple[BuiltImage, ...]
    seconds: float
    comparisons: tuple[Comparison, ...] = ()
    """With `verify`: each image of the first build against the second."""

    @property
    def reproducible(self) -> bool:
        return all(c.identical for c in self.comparisons)

    def lines(self) -> list[str]:
        out = []
        for image in self.images:
            out.append(
                f"{image.name:<32} {image.size_bytes / 1e6:7.1f} MB  "
                f"{image.action:<8} {image.seconds:6.1f}s  {image.id[:19]}"
            )
        for comparison in self.comparisons:
            out += comparison.lines()
        if self.comparisons:
            out.append("reproducible" if self.reproducible else "NOT reproducible")
        out.append(f"total {self.seconds:.1f}s")
        return out


@dataclass(frozen=True, slots=True)
class _Build:
    """One `docker build` of ours."""

    tag: str
    dockerfile: Path
    context: Path
    inputs: tuple[Path, ...]
    """Files whose content decides the image (for the stale-image digest)."""
    args: tuple[tuple[str, str], ...] = ()
    extra: tuple[str, ...] = ()
    """More digest input (the wheel names: the lock already pins their contents)."""
    dated_by: tuple[Path, ...] = ()
    """Its inputs and its base images' inputs: the last commit to change them dates it."""

    @property
    def digest(self) -> str:
        return digest(self.inputs, *(f"{k}={v}" for k, v in self.args), *self.extra)


def images_for(*, offline: bool) -> names.Images:
    return names.OFFLINE if offline else names.OFFICIAL


def have_sources() -> bool:
    return (SOURCE_ROOT / "services" / "shopnet").is_dir() and (CONTAINERS / "Dockerfile").exists()


def _require_sources() -> None:
    if not have_sources():
        raise PreflightError(
            f"building images needs the shopnet source tree (services/ and containers/); "
            f"not found at {SOURCE_ROOT}"
        )


def _files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc"}:
            yield path


def digest(paths: Iterable[Path], *extra: str) -> str:
    """sha256 over the relative names and contents of `paths` (files or directories)."""
    h = hashlib.sha256()
    for item in extra:
        h.update(item.encode() + b"\0")
    for top in paths:
        for path in _files(top) if top.is_dir() else [top]:
            h.update(str(path.relative_to(SOURCE_ROOT)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _builds(images: names.Images, *, offline: bool) -> list[_Build]:
    """The builds, base images first."""
    wheels = CONTAINERS / "wheelhouse"
    base = names.PYTHON_BASE if offline else names.OFFICIAL_PYTHON_BASE
    debian_inputs = (CONTAINERS / "debian", Path(debian_base.__file__))
    python_inputs = (*debian_inputs, CONTAINERS / "base")
    builds = []
    if offline:
        builds += [
            # The context (mmdebstrap's tar) is made by offline.make.
            _Build(tag=names.DEBIAN_BASE, dockerfile=CONTAINERS / "debian" / "Dockerfile",
                   context=CONTAINERS / "debian", inputs=debian_inputs, dated_by=debian_inputs),
            _Build(tag=names.PYTHON_BASE, dockerfile=CONTAINERS / "base" / "Dockerfile",
                   context=CONTAINERS / "base", inputs=(CONTAINERS / "base",),
                   args=(("DEBIAN_IMAGE", names.DEBIAN_BASE),), dated_by=python_inputs),
        ]  # fmt: skip
    service_inputs = (
        CONTAINERS / "Dockerfile",
        SOURCE_ROOT / ".dockerignore",
        CONTAINERS / "requirements.lock",
        CONTAINERS / "healthcheck.py",
        SOURCE_ROOT / "services" / "shopnet",
    )
    builds.append(
        _Build(
            tag=images.service,
            dockerfile=CONTAINERS / "Dockerfile",
            context=SOURCE_ROOT,
            inputs=service_inputs,
            args=(("BASE_IMAGE", base), ("VERSION", __version__)),
            extra=tuple(sorted(p.name for p in wheels.glob("*.whl"))),
            dated_by=(*python_inputs, *service_inputs),
        )
    )
    if offline:
        for what, tag in (("redis", images.redis), ("postgres", images.postgres)):
            builds.append(
                _Build(
                    tag=tag,
                    dockerfile=CONTAINERS / what / "Dockerfile",
                    context=CONTAINERS / what,
                    inputs=(CONTAINERS / what,),
                    args=(("DEBIAN_IMAGE", names.DEBIAN_BASE),),
                    dated_by=(*debian_inputs, CONTAINERS / what),
                )
            )
    return builds


# -- what is there -------------------------------------------------------------


def outdated(docker: Docker, *, offline: bool = True) -> list[str]:
    """Images `up` needs that are missing or were built from other sources than these.

    Without a source tree only missing images count (nothing to compare with).
    """
    images = images_for(offline=offline)
    wanted: dict[str, str | None] = {images.redis: None, images.postgres: None}
    if have_sources():
        for build in _builds(images, offline=offline):
            wanted[build.tag] = build.digest
    else:
        wanted[images.service] = None
    stale = []
    for tag, current in wanted.items():
        labels = image_labels(docker, tag)
        if labels is None or (current and labels.get(names.LABEL_SOURCE_DIGEST) != current):
            stale.append(tag)
    return stale


# -- building ------------------------------------------------------------------


def build_images(
    progress: Progress,
    *,
    offline: bool = True,
    refresh_base: bool = False,
    verify: bool = False,
    docker: Docker | None = None,
    build_dir: Path | None = None,
) -> BuildReport:
    """Build every image the docker mode runs; cached steps make a repeat run quick.

    `offline` (the default): reproducible images from Debian packages, built with
    buildah (offline.py) and loaded into Docker; nothing is pulled from a registry.
    Otherwise `docker build` on python:3.11-slim and the official datastore images
    (registry images by tag: not reproducible). `refresh_base`: run mmdebstrap again.
    `verify`: build every offline image twice in throw-away storages and compare;
    the user's images and build cache are left alone.
    """
    _require_sources()
    started = time.monotonic()
    images = images_for(offline=offline)
    root = build_dir or offline_build.default_build_dir()
    wheelhouse.ensure(
        CONTAINERS / "wheelhouse", lock=CONTAINERS / "requirements.lock", progress=progress
    )
    if verify:
        if not offline:
            raise ConfigError("--verify checks the offline images (the online ones are pulled)")
        comparisons = offline_build.verify(
            progress, _builds(images, offline=True), root, source_root=SOURCE_ROOT
        )
        return BuildReport((), time.monotonic() - started, tuple(comparisons))
    docker = docker or Docker()
    docker.ping()
    built: list[BuiltImage] = []
    if offline:
        store = Buildah.at(root / "buildah")
        made = offline_build.make(progress, store, _builds(images, offline=True), root,
                                  source_root=SOURCE_ROOT, refresh_base=refresh_base)  # fmt: skip
        for item in offline_build.install(progress, docker, store, root, made):
            built.append(BuiltImage(item.tag, image_size(docker, item.tag), item.seconds,
                                    item.action, item.docker_id))  # fmt: skip
    else:
        for build in _builds(images, offline=False):
            built.append(_build(docker, progress, build))
        for tag in (images.redis, images.postgres):
            built.append(_pull(docker, progress, tag))
    return BuildReport(images=tuple(built), seconds=time.monotonic() - started)


def _build(docker: Docker, progress: Progress, build: _Build) -> BuiltImage:
    source = build.digest
    argv = ["build", "--progress=plain", "-f", str(build.dockerfile), "-t", build.tag]
    for key, value in (*build.args, ("SOURCE_DIGEST", source)):
        argv += ["--build-arg", f"{key}={value}"]
    # The digest label, also on images whose Dockerfile does not declare it.
    argv += ["--label", f"{names.LABEL_SOURCE_DIGEST}={source}", str(build.context)]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    previous = image_id(docker, build.tag)
    with progress.step(f"building {build.tag}"):
        started = time.monotonic()
        out = docker.run(*argv, what=f"building {build.tag}", timeout=BUILD_TIMEOUT, env=env,
                         check=False)  # fmt: skip
        if out.returncode != 0:
            # BuildKit prints the failing step's own output before its summary line.
            raise DriverError(
                f"building {build.tag} failed:\n" + _last(out.stderr, 15, sep="\n    ")
            )
    drop_superseded(docker, previous, build.tag)
    return BuiltImage(build.tag, image_size(docker, build.tag), time.monotonic() - started, "built")


def _pull(docker: Docker, progress: Progress, tag: str) -> BuiltImage:
    with progress.step(f"pulling {tag}"):
        started = time.monotonic()
        docker.run("pull", "--quiet", tag, what=f"pulling {tag}", timeout=BUILD_TIMEOUT)
    return BuiltImage(tag, image_size(docker, tag), time.monotonic() - started, "pulled")


def _last(text: str, lines: int = 3, sep: str = " / ") -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return sep.join(kept[-lines:]) or "(no output)"
