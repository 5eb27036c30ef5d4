"""Fixtures for the flake's offline checks: Nix with a private store, a copy of the flake."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nix.nixcli import REPO, Nix


@pytest.fixture(scope="session")
def nix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nix]:
    found = Nix.find(tmp_path_factory.mktemp("nix"))
    if found is None:
        pytest.skip(
            "nix is not installed: the flake's offline checks need nix and nix-instantiate "
            "(Debian: apt-get install nix-bin)"
        )
    yield found


@pytest.fixture
def flake_copy(tmp_path: Path) -> Path:
    """flake.nix, flake.lock and nix/ copied out of the checkout.

    A flake inside a git repository sees only tracked files, and tests must not
    change git state (no `git add`), so checks run on a copy used as a path: flake.
    """
    copy = tmp_path / "flake"
    copy.mkdir()
    shutil.copy2(REPO / "flake.nix", copy)
    shutil.copy2(REPO / "flake.lock", copy)
    shutil.copytree(REPO / "nix", copy / "nix")
    return copy
