# Formatting and lint: nixfmt on the Nix files, ruff on the Python (its rules and
# formatting come from pyproject.toml).
{
  lib,
  nixfmt,
  ruff,
  runCommand,
}:
let
  nixFiles = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../flake.nix
      ../nix
    ];
  };
  python = import ./source.nix { inherit lib; };
  tools = {
    nativeBuildInputs = [
      nixfmt
      ruff
    ];
  };
in
runCommand "shopnet-lint" tools ''
  nixfmt --check ${nixFiles}/flake.nix ${nixFiles}/nix/*.nix
  cd ${python}
  ruff check --no-cache services netns containers tests
  ruff format --check --no-cache services netns containers tests
  touch $out
''
