"""buildah, in a storage of our own: the builder of the reproducible (offline) images.

Why buildah and not the engine's builder: dockerd 20.10's builders (classic and its
embedded BuildKit) cannot pin timestamps — no SOURCE_DATE_EPOCH — so every build
gets new `created` dates and new file times. buildah 1.28 (Debian bookworm) has
`--timestamp`: the config and history dates, and the time of every file committed
to a layer, become that one value; layer tars are written in a stable order. It
reads our Dockerfiles as they are (multi-stage, HEALTHCHECK with `--format docker`)
and needs no daemon, so each build can have its own storage: `--verify` builds
twice without touching the user's images.

What buildah 1.28 still leaves random (the builder container's id and hostname,
the intermediate images' ids) lives only in the image config; imagefiles.py blanks
those fields before the image is handed to Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError, PreflightError

BUILD_TIMEOUT = 1800.0
LOCAL = "localhost/"
"""buildah resolves a short name through registries.conf; ours are local, always."""


def local_name(tag: str) -> str:
    return tag if tag.startswith(LOCAL) else LOCAL + tag


def source_date_epoch(root: Path, inputs: Sequence[Path] = ()) -> int:
    """$SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else a commit time.

    The time of the last commit that changed `inputs` (of HEAD without inputs): a function
    of the commit, like HEAD's own time, but a commit that touches only the services does
    not re-date, and so rebuild, the Debian and datastore images.
    """
    if env := os.environ.get("SOURCE_DATE_EPOCH"):
        if not env.isdigit():
            raise PreflightError(f"SOURCE_DATE_EPOCH must be seconds since 1970, not {env!r}")
        return int(env)
    for paths in ([str(p) for p in inputs], []):
        try:
            out = subprocess.run(
                ["git", "-C", str(root), "log", "-1", "--format=%ct", "--", *paths],
                capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
        except OSError as exc:
            raise PreflightError(f"cannot run git for the commit time: {exc}") from None
        if out.returncode == 0 and out.stdout.strip().isdigit():
            return int(out.stdout.strip())
    raise PreflightError(f"{root} is not a git checkout: set SOURCE_DATE_EPOCH to date the images")


@dataclass(frozen=True, slots=True)
class Buildah:
    """One buildah storage (layers, images, cache) under `root`."""

    root: Path
    binary: str = "buildah"

    @classmethod
    def at(cls, root: Path) -> Buildah:
        binary = shutil.which("buildah")
        if binary is None:
            raise PreflightError("buildah not found: install it with `apt-get install buildah`")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(root=root, binary=binary)

    def _argv(self, *args: str) -> list[str]:
        return [
            self.binary, "--root", str(self.root / "storage"),
            "--runroot", str(self.root / "run"), "--storage-driver", "overlay", *args,
        ]  # fmt: skip

    def run(self, *args: str, what: str, timeout: float = 300.0) -> str:
        try:
            out = subprocess.run(
                self._argv(*args), capture_output=True, text=True, check=False,
                timeout=timeout, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise DriverError(f"{what}: buildah took longer than {timeout:.0f}s") from None
        if out.returncode != 0:
            kept = [line.strip() for line in out.stderr.splitlines() if line.strip()]
            raise DriverError(f"{what} failed:\n    " + "\n    ".join(kept[-12:]))
        return out.stdout

    def build(
        self,
        *,
        tag: str,
        dockerfile: Path,
        context: Path,
        epoch: int,
        args: Sequence[tuple[str, str]] = (),
        labels: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Build `tag` (cached per step); returns the image id in this storage."""
        argv = [
            "build", "--quiet", "--layers", "--format", "docker", "--pull-never",
            # chroot: no runtime or network namespace needed, RUN uses the host's network
            # (apt reaches the host's mirror or proxy as the host does).
            "--isolation", "chroot",
            "--timestamp", str(epoch), "--build-arg", f"SOURCE_DATE_EPOCH={epoch}",
            "-f", str(dockerfile), "-t", local_name(tag),
        ]  # fmt: skip
        for key, value in args:
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in labels:
            argv += ["--label", f"{key}={value}"]
        self.run(*argv, str(context), what=f"building {tag}", timeout=BUILD_TIMEOUT)
        return self.image_id(tag) or ""

    def image_id(self, tag: str) -> str | None:
        try:
            out = self.run("images", "--quiet", "--no-trunc", local_name(tag), what="images")
        except DriverError:
            return None
        return out.strip().removeprefix("sha256:") or None

    def export(self, tag: str, dest: Path) -> Path:
        """The image as a `dir:` copy (manifest, config, uncompressed layers) in `dest`."""
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.run("push", "--quiet", "--disable-compression", local_name(tag), f"dir:{dest}",
                 what=f"exporting {tag}", timeout=600)  # fmt: skip
        return dest

    def import_(self, source: Path, tag: str) -> None:
        """Add an exported image (see `export`) to this storage as `tag`."""
        out = self.run("pull", "--quiet", f"dir:{source}", what=f"importing {tag}", timeout=600)
        self.run("tag", out.strip().splitlines()[-1], local_name(tag), what=f"tagging {tag}")

    def remove_storage(self) -> None:
        """Delete this storage (a verification build's): unmount, then remove the tree."""
        subprocess.run(self._argv("rm", "--all"), capture_output=True, check=False, timeout=120)
        subprocess.run(self._argv("rmi", "--all", "--force"), capture_output=True, check=False,
                       timeout=300)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
