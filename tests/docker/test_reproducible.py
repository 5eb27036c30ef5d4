"""Reproducible images, the parts without a builder: config normalisation, the comparison
of two builds, the SBOM read from an image's layers. The builds themselves are in
test_images.py."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from shopnet_docker import sbom
from shopnet_docker.imagefiles import Exported, image_id, normalised_config
from shopnet_docker.reproducible import compare

STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u10
Description: GNU C Library
 shared libraries

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: redis-server
Status: install ok installed
Architecture: amd64
Version: 5:7.0.15-1~deb12u4
"""


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A layer: name -> (content, mtime); an empty content with a `.wh.` name is a whiteout."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _export(path: Path, layers: list[bytes], *, container: str = "c1") -> Exported:
    """A `dir:` export as buildah writes it, with buildah's random fields in the config."""
    path.mkdir()
    digests = []
    for layer in layers:
        digest = hashlib.sha256(layer).hexdigest()
        (path / digest).write_bytes(layer)
        digests.append(digest)
    config = {
        "container": container,
        "parent": f"sha256:{container}",
        "config": {"Hostname": container[:12], "User": "10001:10001"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]},
        "history": [{"created_by": "RUN x", "comment": f"FROM {container[:12].ljust(12, '0')}"}],
    }
    raw = json.dumps(config).encode()
    config_digest = hashlib.sha256(raw).hexdigest()
    (path / config_digest).write_bytes(raw)
    manifest = {
        "config": {"digest": f"sha256:{config_digest}"},
        "layers": [{"digest": f"sha256:{d}"} for d in digests],
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return Exported(path)


def test_normalising_removes_buildahs_random_ids_and_nothing_else() -> None:
    def config(container: str) -> bytes:
        return json.dumps({
            "container": container, "parent": "sha256:" + container,
            "config": {"Hostname": container[:12], "User": "redis"},
            "container_config": {"Hostname": container[:12]},
            "history": [{"created_by": "ENV A=1", "comment": f"FROM {container[:12]}"},
                        {"created_by": "ARG X", "comment": "FROM localhost/shopnet/debian:bookworm"}],
        }).encode()  # fmt: skip

    first, second = config("0123456789ab" * 5), config("ba9876543210" * 5)
    assert normalised_config(first) == normalised_config(second)
    kept = json.loads(normalised_config(first))
    assert kept["config"] == {"Hostname": "", "User": "redis"}
    assert "container" not in kept and "parent" not in kept
    assert kept["history"] == [
        {"created_by": "ENV A=1"},
        {"created_by": "ARG X", "comment": "FROM localhost/shopnet/debian:bookworm"},
    ]
    # A real difference survives normalisation.
    other = json.loads(first)
    other["config"]["User"] = "root"
    assert normalised_config(json.dumps(other).encode()) != normalised_config(first)


def test_two_equal_builds_compare_identical(tmp_path: Path) -> None:
    layer = _tar({"etc/os-release": (b"bookworm\n", 100)})
    first = _export(tmp_path / "a", [layer], container="aaaa")
    second = _export(tmp_path / "b", [layer], container="bbbb")
    comparison = compare("shopnet/x:1", first, second)
    assert comparison.identical
    assert comparison.first_id == image_id(normalised_config(first.config_bytes))
    assert comparison.lines() == [
        f"{'shopnet/x:1':<32} identical  sha256:{comparison.first_id[:12]}"
    ]


def test_a_difference_names_the_layer_and_the_files(tmp_path: Path) -> None:
    base = _tar({"etc/os-release": (b"bookworm\n", 100)})
    first = _export(tmp_path / "a", [base, _tar({"var/log/dpkg.log": (b"1\n", 100),
                                                 "usr/bin/x": (b"x", 100)})])  # fmt: skip
    second = _export(tmp_path / "b", [base, _tar({"usr/bin/x": (b"x", 200),
                                                  "etc/new": (b"", 100)})])  # fmt: skip
    comparison = compare("shopnet/x:1", first, second)
    assert not comparison.identical
    [layer] = comparison.layers
    assert layer.index == 1
    assert [line.split(":")[0] for line in layer.files] == [
        "+ etc/new", "~ usr/bin/x", "- var/log/dpkg.log"
    ]  # fmt: skip
    assert "mtime=100" in layer.files[1] and "mtime=200" in layer.files[1]
    assert comparison.config == ()  # only the layer list differs
    text = "\n".join(comparison.lines())
    assert "DIFFERENT" in text and "layer 1:" in text


def test_the_sbom_reads_the_merged_filesystem(tmp_path: Path) -> None:
    metadata = b"Metadata-Version: 2.1\nName: aiohttp\nVersion: 3.14.5\n\nbody\n"
    site = "opt/shopnet/venv/lib/python3.11/site-packages"
    layers = [
        _tar({"var/lib/dpkg/status": (b"Package: old\nStatus: install ok installed\n", 1),
              f"{site}/pip-24.0.dist-info/METADATA": (b"Name: pip\nVersion: 24.0\n", 1)}),
        _tar({"var/lib/dpkg/status": (STATUS.encode(), 1),
              f"{site}/.wh.pip-24.0.dist-info": (b"", 1),
              f"{site}/aiohttp-3.14.5.dist-info/METADATA": (metadata, 1)}),
    ]  # fmt: skip
    bom = sbom.of_image(
        _export(tmp_path / "img", layers),
        image="shopnet/service:0.1.0",
        image_id="sha256:1",
        epoch=7,
    )
    assert [(p.name, p.version, p.where) for p in bom.debian] == [
        ("libc6", "2.36-9+deb12u10", "amd64"), ("redis-server", "5:7.0.15-1~deb12u4", "amd64")
    ]  # fmt: skip
    assert [(p.name, p.version) for p in bom.python] == [("aiohttp", "3.14.5")]
    written = sbom.write(tmp_path / "sbom", bom)
    assert written.name == "shopnet_service_0.1.0.json"
    assert sbom.read(tmp_path / "sbom", "shopnet/service:0.1.0") == bom
    assert json.loads(written.read_text())["format"] == "shopnet-sbom/1"
