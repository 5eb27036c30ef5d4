"""An exported image (`buildah push dir:`): its config made deterministic, its layers read.

The image id Docker shows is the sha256 of the config JSON, which names every layer
by the sha256 of its uncompressed tar (`rootfs.diff_ids`). buildah's `--timestamp`
already makes layers and dates stable; `normalised_config` blanks the fields buildah
1.28 fills with random ids, and writes the JSON with sorted keys, so one set of
inputs gives one id. `docker_load` hands the result to Docker as a `docker save`
archive: manifest.json, the config, the layer tars — no registry involved.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopnet.errors import DriverError

_RANDOM_COMMENT = re.compile(r"^FROM [0-9a-f]{12}$")
"""buildah's history comment naming an intermediate image by its (random) id."""


@dataclass(frozen=True, slots=True)
class Exported:
    """A `dir:` export: manifest.json plus blobs named by their sha256."""

    path: Path

    @property
    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self.path / "manifest.json").read_text())
        return manifest

    def blob(self, digest: str) -> Path:
        return self.path / digest.removeprefix("sha256:")

    @property
    def config_bytes(self) -> bytes:
        return self.blob(self.manifest["config"]["digest"]).read_bytes()

    @property
    def layers(self) -> list[Path]:
        """Uncompressed layer tars, base first (exported with --disable-compression)."""
        return [self.blob(layer["digest"]) for layer in self.manifest["layers"]]


def normalised_config(raw: bytes) -> bytes:
    """The config without buildah's random ids, as canonical JSON."""
    config = json.loads(raw)
    config.pop("container", None)
    config.pop("parent", None)
    for section in ("config", "container_config"):
        if isinstance(config.get(section), dict):
            config[section]["Hostname"] = ""
    for entry in config.get("history", []):
        if _RANDOM_COMMENT.match(entry.get("comment", "")):
            del entry["comment"]
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def image_id(config: bytes) -> str:
    return hashlib.sha256(config).hexdigest()


def docker_load(docker_binary: str, exported: Exported, config: bytes, tag: str) -> str:
    """Load the image into Docker under `tag` with exactly `config`; returns its id."""
    ident = image_id(config)
    names = [f"{i:03d}.tar" for i in range(len(exported.layers))]
    manifest = [{"Config": f"{ident}.json", "RepoTags": [tag], "Layers": names}]
    with subprocess.Popen(
        [docker_binary, "load", "--quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as load:  # fmt: skip
        assert load.stdin is not None  # for the type checker: stdin=PIPE
        try:
            with tarfile.open(fileobj=load.stdin, mode="w|", format=tarfile.PAX_FORMAT) as out:
                _add_bytes(out, f"{ident}.json", config)
                for name, layer in zip(names, exported.layers, strict=True):
                    out.add(layer, arcname=name)
                _add_bytes(out, "manifest.json", json.dumps(manifest).encode())
        except BrokenPipeError:
            pass  # docker load stopped reading: its stderr says why
        finally:
            load.stdin.close()
        assert load.stderr is not None  # stderr=PIPE
        stderr = load.stderr.read()  # a few lines at most; stdout is one line
        load.wait(timeout=600)
    if load.returncode != 0:
        raise DriverError(f"docker load of {tag} failed: {stderr.decode(errors='replace')[-300:]}")
    return f"sha256:{ident}"


def _add_bytes(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))


# -- what is inside ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar member, as a diff between two builds shows it."""

    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    content: str
    """sha256 of a file's bytes, a link's target, or ""."""

    def describe(self) -> str:
        return (
            f"{self.kind} {self.mode:04o} {self.uid}:{self.gid} {self.size}B "
            f"mtime={self.mtime} {self.content[:16]}"
        )


def _kind(member: tarfile.TarInfo) -> str:
    if member.isfile():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    return "device"


def listing(layer: Path) -> dict[str, Entry]:
    """Every member of a layer tar, with its metadata and the hash of its content."""
    found: dict[str, Entry] = {}
    with tarfile.open(layer, mode="r:") as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                content = hashlib.sha256(handle.read() if handle else b"").hexdigest()
            else:
                content = member.linkname
            found[member.name.removeprefix("./")] = Entry(
                _kind(member), member.size, member.mode, member.uid, member.gid,
                int(member.mtime), content,
            )  # fmt: skip
    return found


def final_files(exported: Exported, wanted: re.Pattern[str]) -> Iterator[tuple[str, bytes]]:
    """Files whose path matches `wanted` in the image's merged filesystem (whiteouts applied)."""
    files: dict[str, bytes] = {}
    for layer in exported.layers:
        with tarfile.open(layer, mode="r:") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                parent, _, base = name.rpartition("/")
                if base.startswith(".wh."):
                    # `.wh..wh..opq` empties its directory; `.wh.NAME` removes NAME.
                    opaque = base == ".wh..wh..opq"
                    gone = parent if opaque else (f"{parent}/{base[4:]}" if parent else base[4:])
                    for key in [k for k in files if k == gone or k.startswith(gone + "/")]:
                        del files[key]
                    continue
                if member.isfile() and wanted.search(name):
                    handle = tar.extractfile(member)
                    files[name] = handle.read() if handle else b""
    yield from sorted(files.items())
