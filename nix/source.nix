# The files the Python build and its tests read (docs/ for the test that keeps the
# configuration reference in step). flake.nix, flake.lock and nix/ stay out, so
# editing them rebuilds neither the package nor its tests.
{ lib }:
let
  project = lib.fileset.unions [
    ../pyproject.toml
    (lib.fileset.maybeMissing ../README.md)
    ../services
    ../netns
    ../containers
    ../tests
    ../docs
  ];
  # What local runs leave behind; only seen when the flake is used as a path, since a
  # git flake sees tracked files alone.
  leftovers = lib.fileset.unions [
    (lib.fileset.fileFilter (file: file.hasExt "pyc") ../.)
    (lib.fileset.maybeMissing ../containers/wheelhouse)
  ];
in
lib.fileset.toSource {
  root = ../.;
  fileset = lib.fileset.difference project leftovers;
}
