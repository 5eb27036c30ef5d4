"""Which nixpkgs attributes a Nix file uses, read from its syntax tree.

`nix-instantiate --parse` prints a file back with every attribute selection as
`(root).a.b`, without comments, with strings quoted and path literals made
absolute. After blanking strings and paths, the selections on a nixpkgs root
(`pkgs`, `lib`, the `nixpkgs` flake input, or a formal argument of a callPackage
file that is not one of the project's own arguments) and the bare uses of such
formals (`iproute2` in a list) are what the file takes from nixpkgs.
"""

from __future__ import annotations

import re

PROJECT_ARGUMENTS = frozenset(
    {
        "shopnet",
        "images",
        "load-images",
        "netns-up",
        "netns-down",
        "docker-up",
        "docker-down",
        "verb",
        "withBench",
    }
)
"""Formal arguments that flake.nix passes itself (the project's derivations and options)."""

ALWAYS_ROOTS = frozenset({"pkgs", "lib", "nixpkgs"})

_IDENT = r"[A-Za-z_][\w'-]*"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_PATH = re.compile(r"(?<=[\s(\[=])/[\w.+/-]*")
_FORMALS = re.compile(r"\{[^{}]*\}:")
_SELECTION = re.compile(rf"\(({_IDENT})\)((?:\.{_IDENT})+)")


def blank(tree: str) -> str:
    """The syntax tree without string contents and path literals."""
    return _PATH.sub("PATH", _STRING.sub('""', tree))


def uses(tree: str, formals: set[str]) -> set[str]:
    """Attribute paths from nixpkgs used in `tree` (the --parse output of one file).

    `pkgs.` is dropped (`pkgs.nixfmt` is `nixfmt`); other roots keep their name
    (`lib.getExe`, `python3Packages.aiohttp`, `nixpkgs.legacyPackages`).
    """
    roots = ALWAYS_ROOTS | (formals - PROJECT_ARGUMENTS)
    code = _FORMALS.sub("", blank(tree))
    found = set()
    for root, path in _SELECTION.findall(code):
        if root in roots:
            found.add(f"{root}{path}".removeprefix("pkgs."))
    bare_code = _SELECTION.sub("SELECTION", code)
    for root in roots - ALWAYS_ROOTS:
        # A bare use, not a binding's name (`name = …`).
        if re.search(rf"(?<![\w.'-]){re.escape(root)}(?![\w'-])(?!\s*=[^=])", bare_code):
            found.add(root)
    return found
