# The `shopnet` command and services, built from pyproject.toml with nixpkgs' Python
# packages. Its check phase runs the unit tests that need no root, no Docker and no
# datastores; checks.service-tests runs the rest that the sandbox allows.
# `withBench` adds the `bench` extra (matplotlib, for the charts of `shopnet bench`);
# the `netns` extra (pyroute2) is always in: the launchers run netns mode.
{
  lib,
  python3Packages,
  withBench ? false,
}:
let
  pyproject = lib.importTOML ../pyproject.toml;
  optional-dependencies.bench = [ python3Packages.matplotlib ];
  optional-dependencies.netns = [ python3Packages.pyroute2 ];
  required = [
    python3Packages.aiohttp
    python3Packages.asyncpg
    python3Packages.hiredis
    python3Packages.httptools
    python3Packages.msgspec
    python3Packages.orjson
    python3Packages.prometheus-client
    python3Packages.pyjwt
    python3Packages.pyyaml
    python3Packages.redis
    python3Packages.uvloop
  ];
  dependencies =
    required ++ optional-dependencies.netns ++ lib.optionals withBench optional-dependencies.bench;
  dependencyPythonPath = python3Packages.makePythonPath dependencies;
in
python3Packages.buildPythonApplication {
  pname = pyproject.project.name;
  inherit (pyproject.project) version;
  src = import ./source.nix { inherit lib; };
  pyproject = true;

  build-system = [ python3Packages.setuptools ];

  inherit dependencies optional-dependencies;

  # Every mode starts the services as `sys.executable -m shopnet serve NAME`. The
  # wrapper's interpreter is nixpkgs' bare Python, so those children find our modules
  # only through PYTHONPATH: the script wrapper alone would not carry them.
  makeWrapperArgs = [
    "--prefix"
    "PYTHONPATH"
    ":"
    "${placeholder "out"}/${python3Packages.python.sitePackages}:${dependencyPythonPath}"
  ];

  passthru = {
    # For the service image, whose `python3 -m shopnet` needs the same path, and the
    # development shell's Python.
    inherit dependencyPythonPath;
    pythonDependencies = dependencies;
  };

  nativeCheckInputs = [
    python3Packages.pytestCheckHook
    python3Packages.pytest-aiohttp
    python3Packages.pytest-asyncio
    python3Packages.pytest-timeout
    python3Packages.pytest-xdist
    python3Packages.kubernetes-validate
    python3Packages.schemathesis
  ];

  # Pure unit tests: the topology model, scale parsing, process records and the
  # registry (aiohttp on loopback, which the build sandbox has).
  enabledTestPaths = [
    "tests/topology"
    "tests/runtime/test_scale.py"
    "tests/runtime/test_process.py"
    "tests/registry"
  ];

  # The core and both runtime drivers' packages (three source roots, one wheel).
  pythonImportsCheck = [
    "shopnet.cli"
    "shopnet_netns"
    "shopnet_docker"
  ];

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    mainProgram = "shopnet";
    platforms = lib.platforms.linux;
  };
}
