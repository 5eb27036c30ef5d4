"""The reviewed list of nixpkgs attributes is exactly what the flake's files use.

nixpkgs 26.05 cannot be fetched here, so whether each attribute exists there is
checked by a person reading nixpkgs_attributes.py; this test makes sure that list
cannot drift from flake.nix and nix/*.nix in either direction.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nix.nixcli import NIX_FILES, REPO, Nix
from tests.nix.nixpkgs_attributes import NIXPKGS_ATTRIBUTES
from tests.nix.stubbed import nix_path
from tests.nix.usage import uses


def formals(nix: Nix, path: Path) -> set[str]:
    """The named arguments of a file that is a function (what callPackage fills in)."""
    expression = f"""
      let value = import {nix_path(path)};
      in if builtins.isFunction value then builtins.attrNames (builtins.functionArgs value) else [ ]
    """
    return set(nix.eval_json(expression))


def used(nix: Nix) -> dict[str, set[str]]:
    return {str(p.relative_to(REPO)): uses(nix.parse(p), formals(nix, p)) for p in NIX_FILES}


def test_the_list_is_what_the_files_use(nix: Nix) -> None:
    by_file = used(nix)
    everything = set().union(*by_file.values())
    listed = set(NIXPKGS_ATTRIBUTES)
    unlisted = {a: [f for f, u in by_file.items() if a in u] for a in sorted(everything - listed)}
    assert unlisted == {}, "used but not in nixpkgs_attributes.py (add them, and check them)"
    assert sorted(listed - everything) == [], "listed but no longer used (remove them)"
    assert len(NIXPKGS_ATTRIBUTES) == len(listed), "listed twice"


def test_usage_reading_sees_every_kind_of_use(nix: Nix, tmp_path: Path) -> None:
    """Selections on pkgs/lib/formals, bare formals, inherit-from; not strings or comments."""
    sample = tmp_path / "sample.nix"
    sample.write_text(
        "{ lib, dockerTools, iproute2, shopnet, pkgs }:\n"
        "let inherit (pkgs) hello; in\n"
        "# pkgs.commented\n"
        "dockerTools.streamLayeredImage {\n"
        '  name = "pkgs.quoted ${shopnet.version}";\n'
        "  contents = [ iproute2 shopnet hello ];\n"
        '  text = "${lib.getExe pkgs.curl} ${toString shopnet}";\n'
        "}\n"
    )
    found = uses(nix.parse(sample), formals(nix, sample))
    assert found == {"dockerTools.streamLayeredImage", "iproute2", "hello", "lib.getExe", "curl"}


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_with_expressions(nix: Nix, path: Path) -> None:
    """`with pkgs; …` would hide attribute uses from the reading above."""
    assert "(with " not in nix.parse(path)
