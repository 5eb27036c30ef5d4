"""The offline images, built reproducibly with buildah and handed to Docker.

    <build dir>/buildah/         buildah's storage: layers and the step cache
    <build dir>/debian-<epoch>/  mmdebstrap's tar, the context of containers/debian
    <build dir>/sbom/<image>.json   what each image holds (sbom.py)
    <build dir>/images.json      buildah id -> Docker id of the last images loaded
    <build dir>/verify/          the two throw-away storages of `--verify`

<build dir> is <state root>/build (/var/lib/shopnet/build for root). Each image is
dated by the commit that last changed its inputs (buildah.source_date_epoch).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.runtime.progress import Progress
from shopnet.runtime.state import default_root
from shopnet_docker import names, sbom
from shopnet_docker.buildah import Buildah, local_name, source_date_epoch
from shopnet_docker.debian_base import make_rootfs
from shopnet_docker.engine import Docker
from shopnet_docker.imagefiles import Exported, docker_load, normalised_config
from shopnet_docker.inventory import drop_superseded, image_id
from shopnet_docker.reproducible import Comparison, compare

if TYPE_CHECKING:
    from shopnet_docker.images import _Build

_BASE_ARGS = {"DEBIAN_IMAGE", "BASE_IMAGE"}
"""Build args naming one of our images: buildah finds it in its storage as localhost/…"""


def default_build_dir() -> Path:
    return default_root() / "build"


def safe(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)


@dataclass(frozen=True, slots=True)
class Made:
    build: _Build
    buildah_id: str
    epoch: int
    seconds: float


CURRENT_STORE = "buildah-current"
"""A file in the build directory naming the storage of the newest build."""


def main_store(root: Path, builds: Sequence[_Build], *, source_root: Path) -> Buildah:
    """The build storage for the dates these builds carry; storages of other dates go.

    buildah's layer cache does not key on --timestamp: a step whose inputs did not
    change comes back from the cache with the file and history dates of an older
    build, and the image differs from a clean build of the same commit. One storage
    per newest date (any image re-dated makes its date the newest) keeps the cache
    honest: a new date costs one cold build, a repeat build stays quick.
    """
    newest = max(source_date_epoch(source_root, b.dated_by) for b in builds)
    name = f"buildah-{newest}"
    for old in root.glob("buildah*"):
        if old.is_dir() and old.name != name:
            Buildah.at(old).remove_storage()
    root.mkdir(parents=True, exist_ok=True)  # a fresh state directory has none yet
    (root / CURRENT_STORE).write_text(name + "\n")
    return Buildah.at(root / name)


def current_store(root: Path) -> Buildah:
    """The storage `main_store` chose last (the one Docker's images came from)."""
    try:
        name = (root / CURRENT_STORE).read_text().strip()
    except OSError:
        name = "buildah"
    return Buildah.at(root / name)


def make(
    progress: Progress,
    store: Buildah,
    builds: Sequence[_Build],
    root: Path,
    *,
    source_root: Path,
    refresh_base: bool = False,
) -> list[Made]:
    """Build `builds` in order in `store` (each step cached there)."""
    made = []
    for build in builds:
        epoch = source_date_epoch(source_root, build.dated_by)
        context = build.context
        if build.tag == names.DEBIAN_BASE:
            context = _debian_context(progress, root, epoch, refresh=refresh_base)
        args = [(k, local_name(v) if k in _BASE_ARGS else v) for k, v in build.args]
        started = time.monotonic()
        with progress.step(f"buildah: {build.tag} (SOURCE_DATE_EPOCH={epoch})"):
            ident = store.build(
                tag=build.tag, dockerfile=build.dockerfile, context=context, epoch=epoch,
                args=[*args, ("SOURCE_DIGEST", build.digest)],
                labels=[(names.LABEL_SOURCE_DIGEST, build.digest)],
            )  # fmt: skip
        made.append(Made(build, ident, epoch, time.monotonic() - started))
    return made


def _debian_context(progress: Progress, root: Path, epoch: int, *, refresh: bool) -> Path:
    context = root / f"debian-{epoch}"
    tar = context / "rootfs.tar"
    if refresh:
        tar.unlink(missing_ok=True)
    if not tar.exists():
        for old in root.glob("debian-*"):
            shutil.rmtree(old, ignore_errors=True)
        with progress.step(f"mmdebstrap: Debian minbase (SOURCE_DATE_EPOCH={epoch})"):
            make_rootfs(tar, epoch=epoch)
    return context


@dataclass(frozen=True, slots=True)
class Loaded:
    tag: str
    docker_id: str
    seconds: float
    action: str
    """loaded (new image in Docker) or kept (Docker has it already)."""


def install(
    progress: Progress, docker: Docker, store: Buildah, root: Path, made: Sequence[Made]
) -> list[Loaded]:
    """Hand each image to Docker with its deterministic config; write its SBOM."""
    record_file = root / "images.json"
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        record = {}
    loaded = []
    for item in made:
        tag = item.build.tag
        known = record.get(tag, {})
        current = image_id(docker, tag)
        if (
            known.get("buildah") == item.buildah_id
            and current is not None
            and current == known.get("docker")
            and sbom.read(root / "sbom", tag) is not None
        ):
            loaded.append(Loaded(tag, current, item.seconds, "kept"))
            continue
        started = time.monotonic()
        with progress.step(f"loading {tag} into Docker"):
            exported = Exported(store.export(tag, root / "export" / safe(tag)))
            ident = docker_load(
                docker.binary, exported, normalised_config(exported.config_bytes), tag
            )
            sbom.write(root / "sbom", sbom.of_image(exported, image=tag, image_id=ident,
                                                    epoch=item.epoch))  # fmt: skip
            shutil.rmtree(exported.path)
        drop_superseded(docker, current, tag)
        record[tag] = {"buildah": item.buildah_id, "docker": ident}
        record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        loaded.append(Loaded(tag, ident, item.seconds + time.monotonic() - started, "loaded"))
    return loaded


def verify(
    progress: Progress,
    builds: Sequence[_Build],
    root: Path,
    *,
    source_root: Path,
    reuse: Sequence[str] = (),
    work: Path | None = None,
) -> list[Comparison]:
    """Build `builds` twice, each time in a new storage, and compare what came out.

    `reuse`: images taken from the main storage instead of built (the same base for
    both builds: the claim checked is then "the same inputs give the same image" for
    the rest). Nothing reaches Docker; both storages (in `work`, by default
    <root>/verify) are deleted afterwards.
    """
    work = work or root / "verify"
    shutil.rmtree(work, ignore_errors=True)
    stores = [Buildah.at(work / name) for name in ("first", "second")]
    try:
        if reuse:
            main = current_store(root)
            for tag in reuse:
                seed = main.export(tag, work / "seed" / safe(tag))
                for store in stores:
                    store.import_(seed, tag)
        exports = []
        for store in stores:
            progress.info(f"verification build in {store.root}")
            make(progress, store, builds, store.root, source_root=source_root, refresh_base=True)
            exports.append(
                {b.tag: Exported(store.export(b.tag, store.root / "export" / safe(b.tag)))
                 for b in builds}
            )  # fmt: skip
        with progress.step("comparing the two builds"):
            return [compare(b.tag, exports[0][b.tag], exports[1][b.tag]) for b in builds]
    finally:
        for store in stores:
            store.remove_storage()
        shutil.rmtree(work, ignore_errors=True)
