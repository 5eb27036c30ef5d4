"""The Debian minbase tree of shopnet/debian:bookworm, written by mmdebstrap as a tar.

With SOURCE_DATE_EPOCH set, mmdebstrap writes the same tar for the same options and
the same mirror content (its man page; checked here: two runs, one sha256). It removes
the dpkg and apt logs, the ldconfig cache, apt's lists and the machine-id itself; the
host's resolv.conf and hostname, which it copies in, are removed by a hook below.
containers/debian/Dockerfile turns the tar into the image's one layer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from shopnet.errors import DriverError, PreflightError

SUITE = "bookworm"
TIMEOUT = 1200.0

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
# The host's, copied in by mmdebstrap: not ours to ship, and they differ per machine.
_HOST_FILES = 'rm -f "$1/etc/resolv.conf" "$1/etc/hostname"'


def make_rootfs(dest: Path, *, epoch: int) -> Path:
    """Write the tree to `dest` (a .tar), unless a complete one is there already."""
    if dest.exists():
        return dest
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise PreflightError("mmdebstrap not found: install it with `apt-get install mmdebstrap`")
    partial = dest.with_suffix(".partial")
    argv = [
        mmdebstrap, "--variant=minbase", "--quiet",
        *(f"--dpkgopt={opt}" for opt in _DPKG_EXCLUDES),
        "--aptopt=APT::Install-Recommends \"false\"",
        f"--customize-hook={_POLICY_RC_D}",
        f"--customize-hook={_HOST_FILES}",
        *_merged_usr_hook(),
        "--format=tar", SUITE, str(partial), *_host_sources(),
    ]  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    try:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                             stdin=subprocess.DEVNULL, timeout=TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise DriverError(f"mmdebstrap took longer than {TIMEOUT:.0f}s") from None
    if out.returncode != 0:
        partial.unlink(missing_ok=True)
        kept = [line.strip() for line in out.stderr.splitlines() if line.strip()]
        raise DriverError(f"mmdebstrap failed: {' / '.join(kept[-3:])}")
    partial.rename(dest)
    return dest


def _merged_usr_hook() -> list[str]:
    """Merged /usr the way debootstrap makes it, with the small usr-is-merged package.

    Without it apt satisfies `usrmerge | usr-is-merged` with usrmerge, which pulls in
    all of perl (46 MB) for a conversion a fresh system does not need.
    """
    hooks = Path("/usr/share/mmdebstrap/hooks/merged-usr")
    return [f"--hook-dir={hooks}"] if hooks.is_dir() else []


def _host_sources() -> list[str]:
    """The host's Debian sources when it runs the same suite (a local mirror, a proxy).

    They end up in the images' /etc/apt and in each SBOM: a different mirror is a
    different input, and the verification diff names that file.
    """
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
