"""flake.lock pins nixpkgs to the reviewed nixos-26.05 revision and agrees with flake.nix.

`nix flake metadata --no-update-lock-file` is the check Nix itself makes before
using a lock file: it runs offline here (any download is refused), so it passes
only if flake.nix asks for exactly what flake.lock records.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.nix.nixcli import REPO, Nix
from tests.nix.stubbed import nix_path

NIXPKGS = {
    "locked": {
        "lastModified": 1787204541,
        "narHash": "sha256-OURZPknrTjQrlNyxPdqzyqmU/81Wes1CUP/Ft1Rv/YI=",
        "owner": "NixOS",
        "repo": "nixpkgs",
        "rev": "5880666fd9eb563038431edb35c2d0aa595884e6",
        "type": "github",
    },
    "original": {"owner": "NixOS", "ref": "nixos-26.05", "repo": "nixpkgs", "type": "github"},
}


def lock() -> dict:
    return json.loads((REPO / "flake.lock").read_text())


def test_lock_pins_nixpkgs_to_the_reviewed_revision() -> None:
    data = lock()
    assert data["version"] == 7
    assert data["root"] == "root"
    assert data["nodes"] == {"root": {"inputs": {"nixpkgs": "nixpkgs"}}, "nixpkgs": NIXPKGS}


def test_flake_asks_for_the_locked_branch(nix: Nix) -> None:
    inputs = nix.eval_json(f"(import {nix_path(REPO / 'flake.nix')}).inputs")
    assert inputs == {"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-26.05"}}


def test_lock_file_agrees_with_flake_nix(nix: Nix, flake_copy: Path) -> None:
    metadata = json.loads(nix.flake_metadata(flake_copy).stdout)
    assert metadata["locks"] == lock()
    assert json.loads((flake_copy / "flake.lock").read_text()) == lock()


def test_lock_check_fails_when_flake_nix_asks_for_something_else(
    nix: Nix, flake_copy: Path
) -> None:
    """The check above can fail: a changed input is not taken from the lock file."""
    flake = flake_copy / "flake.nix"
    flake.write_text(flake.read_text().replace("nixos-26.05", "nixos-25.11"))
    result = nix.flake_metadata(flake_copy, check=False)
    assert result.returncode != 0
    assert "nixos-25.11" in result.stderr
    assert json.loads((flake_copy / "flake.lock").read_text()) == lock()
