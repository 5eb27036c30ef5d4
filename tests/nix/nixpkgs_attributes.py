"""Every nixpkgs attribute the flake uses, for review against nixpkgs 26.05 by hand.

nixpkgs cannot be fetched here, so nothing proves these exist in the locked
revision; test_attributes.py proves that this list is exactly what flake.nix and
nix/*.nix use (nothing missing, nothing stale), and tests/nix/stubs.nix turns it
into the stand-ins the other tests evaluate against. Paths are relative to
`pkgs` unless they start with `lib.` (nixpkgs' library) or `nixpkgs.` (the flake
input's own outputs).
"""

from __future__ import annotations

NIXPKGS_ATTRIBUTES = (
    # The flake input and library.
    "nixpkgs.legacyPackages",
    "nixpkgs.lib.genAttrs",
    "nixpkgs.lib.getExe",
    "lib.fileset.difference",
    "lib.fileset.fileFilter",
    "lib.fileset.maybeMissing",
    "lib.fileset.toSource",
    "lib.fileset.unions",
    "lib.importTOML",
    "lib.licenses.mit",
    "lib.optionalString",
    "lib.optionals",
    "lib.platforms.linux",
    "lib.versions.major",
    # Builders.
    "callPackage",
    "mkShell",
    "runCommand",
    "writeShellApplication",
    "writeShellScriptBin",
    "dockerTools.binSh",
    "dockerTools.streamLayeredImage",
    "fakeNss.override",
    "testers.runNixOSTest",
    # The package (python3Packages is Python 3.13 in 26.05; the project needs >= 3.11).
    "python3",
    "python3.withPackages",
    "python3Packages.buildPythonApplication",
    "python3Packages.makePythonPath",
    "python3Packages.python",
    "python3Packages.python.sitePackages",
    "python3Packages.setuptools",
    "python3Packages.aiohttp",
    "python3Packages.asyncpg",
    "python3Packages.hiredis",
    "python3Packages.httptools",
    "python3Packages.msgspec",
    "python3Packages.orjson",
    "python3Packages.prometheus-client",
    "python3Packages.pyjwt",
    "python3Packages.pyroute2",
    "python3Packages.pyyaml",
    "python3Packages.redis",
    "python3Packages.uvloop",
    "python3Packages.matplotlib",
    "python3Packages.pytest",
    "python3Packages.pytestCheckHook",
    "python3Packages.pytest-aiohttp",
    "python3Packages.pytest-asyncio",
    "python3Packages.pytest-timeout",
    "python3Packages.pytest-xdist",
    "python3Packages.kubernetes-validate",
    "python3Packages.schemathesis",
    "python3Packages.mypy",
    "python3Packages.types-pyyaml",
    # What the modes run.
    "coreutils",
    "iproute2",
    "iptables",
    "kmod",
    "nftables",
    "procps",
    "tcpdump",
    "redis",
    "redis.version",
    "postgresql",
    "postgresql_15",
    "postgresql_15.version",
    "docker-client",
    "docker-compose",
    # The bench, the VM test and the development tools.
    "curl",
    "nginx",
    "wrk",
    "ruff",
    "nil",
    "nixfmt",
    "nixfmt-tree",
)
