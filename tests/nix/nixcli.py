"""Running Nix offline from tests: private store, home and config, and no network.

Every Nix command here uses a store under a temporary directory (nothing touches
/nix, and no daemon is needed, root or not), a nix.conf of its own instead of
/etc/nix/nix.conf, and proxy variables that point at a closed loopback port, so
anything that tries to download fails at once instead of fetching. nixpkgs itself
cannot be fetched here: what these helpers check is what Nix can check without
it (parsing, the lock file, evaluation against stand-ins).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
NIX_FILES = (REPO / "flake.nix", *sorted((REPO / "nix").glob("*.nix")))
"""What the flake is made of (tests/nix/stubs.nix is a test helper, not part of it)."""
STUBS = Path(__file__).with_name("stubs.nix")


class NixError(AssertionError):
    """A Nix command failed; the message carries its stderr."""


@dataclass(frozen=True, slots=True)
class Nix:
    """nix and nix-instantiate, run against a private store under `root`."""

    root: Path
    nix: str
    nix_instantiate: str

    @classmethod
    def find(cls, root: Path) -> Nix | None:
        nix = shutil.which("nix")
        nix_instantiate = shutil.which("nix-instantiate")
        if nix is None or nix_instantiate is None:
            return None
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "home").mkdir(exist_ok=True)
        (root / "etc" / "nix.conf").write_text(
            f"store = {root / 'store'}\n"
            "experimental-features = nix-command flakes\n"
            "substituters =\n"
            "download-attempts = 1\n"
            "connect-timeout = 2\n"
        )
        return cls(root=root, nix=nix, nix_instantiate=nix_instantiate)

    def env(self) -> dict[str, str]:
        closed = f"http://127.0.0.1:{free_port()}"
        home = str(self.root / "home")
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "XDG_CACHE_HOME": f"{home}/.cache",
            "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_DATA_HOME": f"{home}/.local/share",
            "NIX_CONF_DIR": str(self.root / "etc"),
            "http_proxy": closed,
            "https_proxy": closed,
            "HTTP_PROXY": closed,
            "HTTPS_PROXY": closed,
            "all_proxy": closed,
            "ALL_PROXY": closed,
        }

    def run(
        self, *argv: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise NixError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
        return result

    def parse(self, path: Path) -> str:
        """The file's syntax tree as Nix prints it (`nix-instantiate --parse`)."""
        return self.run(self.nix_instantiate, "--parse", str(path)).stdout

    def eval_json(self, expression: str, *, cwd: Path = REPO) -> Any:
        """Evaluate `expression` strictly and return its value, through JSON."""
        out = self.run(
            self.nix_instantiate, "--eval", "--strict", "--json", "--expr", expression, cwd=cwd
        )
        return json.loads(out.stdout)

    def flake_metadata(
        self, flake: Path, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`nix flake metadata` without updating the lock file (offline: it must not fetch)."""
        return self.run(
            self.nix,
            "flake",
            "metadata",
            "--json",
            "--no-update-lock-file",
            f"path:{flake}",
            check=check,
        )


def nix_string(value: str | Path) -> str:
    """`value` as a Nix string literal (JSON's string syntax is Nix's, bar `${`)."""
    return json.dumps(str(value)).replace("${", "\\${")
