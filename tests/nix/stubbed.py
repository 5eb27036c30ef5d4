"""Evaluating the flake against stand-ins for nixpkgs (tests/nix/stubs.nix).

nixpkgs cannot be fetched here, but everything the flake's own files decide can
be evaluated with stand-ins: which outputs exist, what each app runs, the image
configs, the launchers' PATH, the package's dependencies and test selection.
Derivations appear as "/stub/NAME"; builders return the arguments they were given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.nix.nixcli import REPO, STUBS, Nix, nix_string
from tests.nix.nixpkgs_attributes import NIXPKGS_ATTRIBUTES

SYSTEMS = ("x86_64-linux", "aarch64-linux")


def nix_path(path: Path) -> str:
    """An absolute path literal for `path`, safe for any characters in it."""
    return f"(/. + {nix_string(path)})"


def evaluate(nix: Nix, body: str, *, flake: Path = REPO) -> Any:
    """Evaluate the Nix expression `body` and return its value.

    In scope: `outputs` (the flake's outputs), `parts` (x86_64-linux's packages,
    apps, checks and shell, by output path), `stubs` (the stand-ins).
    """
    attributes = nix_string(json.dumps(list(NIXPKGS_ATTRIBUTES)))
    expression = f"""
      let
        stubs = import {nix_path(STUBS)} {{ attributes = builtins.fromJSON {attributes}; }};
        flake = import {nix_path(flake / "flake.nix")};
        outputs = flake.outputs {{ self = outputs; nixpkgs = stubs.nixpkgs; }};
      in {body}
    """
    return nix.eval_json(expression)
