"""Building the images, offline: `build_images()` (wired as `shopnet images build`).

Offline (the default: nothing is pulled from any registry):

    mmdebstrap --variant=minbase bookworm | docker import   →  shopnet/debian:bookworm
    containers/base/Dockerfile       (+ python3, venv)      →  shopnet/python-base:bookworm
    containers/Dockerfile            (the four services)    →  shopnet/service:<version>
    containers/redis/Dockerfile      (Debian redis-server)  →  shopnet/redis:7-bookworm
    containers/postgres/Dockerfile   (Debian postgresql-15) →  shopnet/postgres:15-bookworm

Online (`offline=False`): the service image is built on python:3.11-slim, and the
official redis and postgres images are pulled. Either way the services' Python
dependencies come from the wheelhouse (see wheelhouse.py).

The Debian base is made once (or with `refresh_base`); everything above it is a
cached `docker build`, so a rebuild with no change takes a second or two. Each
image carries a digest of the files it was built from, so `up` can tell a stale
image from a current one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shopnet import __version__
from shopnet.errors import DriverError, PreflightError
from shopnet.runtime.progress import Progress
from shopnet_docker import names, wheelhouse
from shopnet_docker.engine import Docker

CONTAINERS = Path(__file__).resolve().parents[1]
"""containers/ of the source checkout (Dockerfiles, lock, wheelhouse)."""
SOURCE_ROOT = CONTAINERS.parent
SUITE = "bookworm"
BUILD_TIMEOUT = 1800.0

# Keep documentation out of every image (this dpkg setting stays in the base, so the
# images built on it skip them too), but keep the licences.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)
# Like Debian's own container images: package scripts never start services during a build.
_POLICY_RC_D = (
    'printf "#!/bin/sh\\nexit 101\\n" > "$1/usr/sbin/policy-rc.d"; '
    'chmod 0755 "$1/usr/sbin/policy-rc.d"'
)


@dataclass(frozen=True, slots=True)
class BuiltImage:
    name: str
    size_bytes: int
    seconds: float
    """Time this run spent on it (0 when it was already there and nothing was rebuilt)."""
    action: str
    """built / imported / pulled / kept."""


@dataclass(frozen=True, slots=True)
class BuildReport:
    images: tuple[BuiltImage, ...]
    seconds: float

    def lines(self) -> list[str]:
        out = []
        for image in self.images:
            out.append(
                f"{image.name:<32} {image.size_bytes / 1e6:7.1f} MB  "
                f"{image.action:<8} {image.seconds:6.1f}s"
            )
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
    wheels = CONTAINERS / "wheelhouse"
    base = names.PYTHON_BASE if offline else names.OFFICIAL_PYTHON_BASE
    builds = []
    if offline:
        builds.append(
            _Build(
                tag=names.PYTHON_BASE,
                dockerfile=CONTAINERS / "base" / "Dockerfile",
                context=CONTAINERS / "base",
                inputs=(CONTAINERS / "base",),
                args=(("DEBIAN_IMAGE", names.DEBIAN_BASE),),
            )
        )
    builds.append(
        _Build(
            tag=images.service,
            dockerfile=CONTAINERS / "Dockerfile",
            context=SOURCE_ROOT,
            inputs=(
                CONTAINERS / "Dockerfile",
                SOURCE_ROOT / ".dockerignore",
                CONTAINERS / "requirements.lock",
                CONTAINERS / "healthcheck.py",
                SOURCE_ROOT / "services" / "shopnet",
            ),
            args=(("BASE_IMAGE", base), ("VERSION", __version__)),
            extra=tuple(sorted(p.name for p in wheels.glob("*.whl"))),
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
                )
            )
    return builds


# -- what is there -------------------------------------------------------------


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


def _drop_superseded(docker: Docker, old: str | None, tag: str) -> None:
    """Remove the image `tag` named before a rebuild, so rebuilds leave no untagged images.

    Only that one image, by id, and never by force: if a container still uses it,
    it stays.
    """
    if old is not None and old != image_id(docker, tag):
        docker.run("image", "rm", old, what=f"removing the previous {tag}", check=False)


def image_size(docker: Docker, tag: str) -> int:
    out = docker.run("image", "inspect", "--format", "{{.Size}}", tag, what=f"inspect {tag}")
    return int(out.stdout.strip() or 0)


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
    docker: Docker | None = None,
) -> BuildReport:
    """Build every image the docker mode runs; cached layers make a repeat run quick.

    `offline`: build the base with mmdebstrap and the datastores from Debian packages
    (no registry needed); otherwise start from python:3.11-slim and pull the official
    datastore images. `refresh_base`: make the Debian base again (security updates).
    """
    _require_sources()
    docker = docker or Docker()
    docker.ping()
    started = time.monotonic()
    images = images_for(offline=offline)
    built: list[BuiltImage] = []

    wheelhouse.ensure(
        CONTAINERS / "wheelhouse", lock=CONTAINERS / "requirements.lock", progress=progress
    )
    if offline:
        built.append(_debian_base(docker, progress, refresh=refresh_base))
    for build in _builds(images, offline=offline):
        built.append(_build(docker, progress, build))
    if not offline:
        for tag in (images.redis, images.postgres):
            built.append(_pull(docker, progress, tag))
    return BuildReport(images=tuple(built), seconds=time.monotonic() - started)


def _debian_base(docker: Docker, progress: Progress, *, refresh: bool) -> BuiltImage:
    tag = names.DEBIAN_BASE
    if not refresh and image_labels(docker, tag) is not None:
        return BuiltImage(tag, image_size(docker, tag), 0.0, "kept")
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise PreflightError("mmdebstrap not found: install it with `apt-get install mmdebstrap`")
    argv = [
        mmdebstrap, "--variant=minbase", "--quiet",
        *(f"--dpkgopt={opt}" for opt in _DPKG_EXCLUDES),
        "--aptopt=APT::Install-Recommends \"false\"",
        f"--customize-hook={_POLICY_RC_D}",
        *_merged_usr_hook(),
        SUITE, "-", *_host_sources(),
    ]  # fmt: skip
    importer = [
        docker.binary, "import",
        "--change", "ENV LANG=C.UTF-8",
        "--change", 'CMD ["/bin/bash"]',
        "--change", f"LABEL org.opencontainers.image.title=\"shopnet debian base\" "
                    f"{names.LABEL_SOURCE_DIGEST}=mmdebstrap-{SUITE}",
        "-", tag,
    ]  # fmt: skip
    previous = image_id(docker, tag)
    with progress.step(f"making {tag} with mmdebstrap (minbase {SUITE}, the host's apt sources)"):
        started = time.monotonic()
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        ) as strap:
            assert strap.stdout is not None  # for the type checker: stdout=PIPE
            imported = subprocess.run(
                importer, stdin=strap.stdout, capture_output=True, text=True, check=False
            )
            strap.stdout.close()
            strap_err = strap.stderr.read().decode(errors="replace") if strap.stderr else ""
            strap.wait()
        if strap.returncode != 0:
            raise DriverError(f"mmdebstrap failed: {_last(strap_err)}")
        if imported.returncode != 0:
            raise DriverError(f"docker import failed: {_last(imported.stderr)}")
    _drop_superseded(docker, previous, tag)
    return BuiltImage(tag, image_size(docker, tag), time.monotonic() - started, "imported")


def _merged_usr_hook() -> list[str]:
    """Merged /usr the way debootstrap makes it, with the small usr-is-merged package.

    Without it apt satisfies `usrmerge | usr-is-merged` with usrmerge, which pulls in
    all of perl (46 MB) for a conversion a fresh system does not need.
    """
    hooks = Path("/usr/share/mmdebstrap/hooks/merged-usr")
    return [f"--hook-dir={hooks}"] if hooks.is_dir() else []


def _host_sources() -> list[str]:
    """The host's Debian sources when it runs the same suite (a local mirror, a proxy)."""
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return []
    if f"VERSION_CODENAME={SUITE}" not in release or "ID=debian" not in release:
        return []
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        return [str(deb822)]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists() and any(line.startswith("deb ") for line in legacy.read_text().splitlines()):
        return [str(legacy)]
    return []


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
    _drop_superseded(docker, previous, build.tag)
    return BuiltImage(build.tag, image_size(docker, build.tag), time.monotonic() - started, "built")


def _pull(docker: Docker, progress: Progress, tag: str) -> BuiltImage:
    with progress.step(f"pulling {tag}"):
        started = time.monotonic()
        docker.run("pull", "--quiet", tag, what=f"pulling {tag}", timeout=BUILD_TIMEOUT)
    return BuiltImage(tag, image_size(docker, tag), time.monotonic() - started, "pulled")


def _last(text: str, lines: int = 3, sep: str = " / ") -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return sep.join(kept[-lines:]) or "(no output)"
