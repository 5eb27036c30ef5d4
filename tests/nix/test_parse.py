"""Every Nix file of the flake parses, and every file in nix/ is part of the flake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.nix.nixcli import NIX_FILES, REPO, STUBS, Nix, NixError


@pytest.mark.parametrize("path", [*NIX_FILES, STUBS], ids=lambda p: str(p.relative_to(REPO)))
def test_nix_file_parses(nix: Nix, path: Path) -> None:
    assert nix.parse(path).strip()


def test_a_syntax_error_is_reported(nix: Nix, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = 1; b = ; }\n")
    with pytest.raises(NixError, match="syntax error"):
        nix.parse(broken)


def test_an_undefined_name_is_reported(nix: Nix, tmp_path: Path) -> None:
    """Nix resolves names when it parses, so a typo in a variable fails here already."""
    typo = tmp_path / "typo.nix"
    typo.write_text("{ lib }: lib.optionals true [ shopent ]\n")
    with pytest.raises(NixError, match="undefined variable 'shopent'"):
        nix.parse(typo)


def test_every_file_in_nix_is_used(nix: Nix) -> None:
    """Each nix/*.nix is imported by flake.nix or by another file in nix/: no orphans."""
    referenced: set[str] = set()
    for path in NIX_FILES:
        referenced |= set(re.findall(r"/[\w./+-]+\.nix", nix.parse(path)))
    orphans = [str(p.relative_to(REPO)) for p in NIX_FILES[1:] if str(p) not in referenced]
    assert orphans == []
