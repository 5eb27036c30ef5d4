"""The images' Python dependencies: downloaded on the host, installed in the image offline.

pip inside a build container may not reach PyPI (here, the egress proxy's CA is
not in the image, and we never bake a CA into one), so the host downloads every
wheel pinned in containers/requirements.lock, hash-checked, for the image's
platform: CPython 3.11, manylinux, the host's architecture. The image then runs
`pip install --no-index --require-hashes` against this directory.

Markers: pip evaluates a requirement's environment marker against the Python that
runs pip, not the target. Debian's python3 is 3.11.2 and needs async-timeout
(`python_full_version < '3.11.3'`), which the host's newer 3.11 would skip. So we
download from a copy of the lock with the markers removed — a superset — and the
image's pip applies the markers for its own interpreter.
"""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from shopnet.errors import DriverError, PreflightError
from shopnet.runtime.progress import Progress

TARGET_PYTHON = "3.11"
TARGET_ABI = "cp311"
STAMP = ".complete"
"""Written last: the lock digest and platforms the directory holds wheels for."""

# `name==1.2 ; marker \` → `name==1.2 \` (the hash lines that follow stay as they are).
_MARKER = re.compile(r"^(\S+==\S+)\s*;[^\\\n]*", re.MULTILINE)


def strip_markers(lock_text: str) -> str:
    return _MARKER.sub(r"\1 ", lock_text)


def platforms(machine: str | None = None) -> list[str]:
    """pip platform tags a Debian bookworm image (glibc 2.36) can run, newest first.

    pip does not expand `manylinux_2_36` to the older glibc versions by itself,
    so every version down to manylinux2014 (glibc 2.17) is listed.
    """
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine or "", machine or "")
    arch = arch or platform.machine()
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    if arch in {"x86_64", "i686"}:
        tags += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return tags


def _digest(lock_text: str, tags: list[str]) -> str:
    return hashlib.sha256("\n".join([lock_text, *tags]).encode()).hexdigest()


def ensure(dest: Path, *, lock: Path, progress: Progress, machine: str | None = None) -> Path:
    """Fill `dest` with the locked wheels unless it already holds them; returns `dest`."""
    lock_text = lock.read_text()
    tags = platforms(machine)
    digest = _digest(lock_text, tags)
    stamp = dest / STAMP
    if stamp.exists() and stamp.read_text().strip() == digest:
        progress.info(f"wheelhouse {dest} is up to date")
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    with (
        progress.step(f"downloading the locked wheels for CPython {TARGET_PYTHON} into {dest}"),
        tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="shopnet-lock-") as req,
    ):
        req.write(strip_markers(lock_text))
        req.flush()
        argv = [
            sys.executable, "-m", "pip", "download", "--quiet",
            "--disable-pip-version-check", "--dest", str(dest),
            "--require-hashes", "--no-deps", "--only-binary=:all:",
            "--implementation", "cp", "--python-version", TARGET_PYTHON, "--abi", TARGET_ABI,
            *(arg for tag in tags for arg in ("--platform", tag)),
            "-r", req.name,
        ]  # fmt: skip
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise PreflightError(f"cannot run pip to build the wheelhouse: {exc}") from None
        if out.returncode != 0:
            lines = [line for line in (out.stderr or out.stdout).splitlines() if line.strip()]
            raise DriverError("downloading the wheelhouse failed: " + " / ".join(lines[-3:]))
    stamp.write_text(digest + "\n")
    return dest
