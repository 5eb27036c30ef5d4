"""The flake's pieces agree with the rest of the project, evaluated on stand-ins.

What the Nix files declare is compared with its sources of truth: pyproject.toml
(dependencies, extras), the Dockerfiles and the compose renderer (each image's
entrypoint, user, ports, stop signal and health check; the image names and
variables compose reads), and the binaries the netns mode and the datastore
launchers run (the launchers' PATH). A change on either side that the other does
not follow fails here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from shopnet.hostnet import tools
from shopnet.runtime import datastores
from shopnet.topology import default_topology
from shopnet_docker import compose, names
from shopnet_docker.settings import IMAGES_ENV
from tests.nix.nixcli import REPO, Nix
from tests.nix.stubbed import evaluate

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Debian package (what the modes name when a binary is missing) → the nixpkgs attribute
# with the same binaries.
NIXPKGS_FOR_DEBIAN = {
    "iproute2": "iproute2",
    "iptables": "iptables",
    "kmod": "kmod",
    "nftables": "nftables",
    "tcpdump": "tcpdump",
    "redis-server": "redis",
    "postgresql": "postgresql",
    "postgresql-client": "postgresql",
}
NOT_NETNS = {"docker"}
"""Binaries the netns mode looks for but does not need (it only checks whether Docker is there)."""


def stub_names(paths: list[str]) -> list[str]:
    """`/stub/aiohttp` → `aiohttp` (derivations evaluate to their stand-in path)."""
    return [p.removeprefix("/stub/") for p in paths]


def requirement_names(requirements: list[str]) -> list[str]:
    """PyPI names of requirement strings, in nixpkgs' spelling (lower case, dashes)."""
    return [
        re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    ]


@pytest.fixture(scope="module")
def parts(nix: Nix) -> dict[str, Any]:
    """What x86_64-linux's parts declare, in the fields these tests compare."""
    return evaluate(
        nix,
        """
        let
          p = outputs.legacyPackages."x86_64-linux";
          image = i: {
            inherit (i) config contents;
            reference = i.imageReference;
            fakeRootCommands = i.fakeRootCommands or "";
          };
          script = s: {
            inherit (s) name text runtimeInputs;
            env = s.runtimeEnv or { };
          };
        in
        {
          package = {
            inherit (p.shopnet) version dependencies optional-dependencies nativeCheckInputs
              enabledTestPaths pythonImportsCheck build-system;
          };
          bench-package = { inherit ((p.shopnet.override { withBench = true; })) dependencies; };
          service-tests = {
            inherit (p.service-tests) nativeCheckInputs enabledTestPaths disabledTestPaths pytestFlags;
          };
          images = builtins.mapAttrs (name: image) p.images;
          load-images = { inherit (p.load-images) text environment; };
          launchers = builtins.mapAttrs (name: script) {
            inherit (p) netns-up netns-down docker-up docker-down bench;
          };
          shell = {
            inherit (p.shell) packages shellHook;
            python = (builtins.head p.shell.packages).packages;
          };
          lint = p.lint.script;
        }
        """,
    )


# -- the package ----------------------------------------------------------------


def test_package_dependencies_are_pyprojects(parts: dict[str, Any]) -> None:
    project = PYPROJECT["project"]
    package = parts["package"]
    assert package["version"] == project["version"]
    # The netns extra is always in the package: its launchers run netns mode.
    netns = requirement_names(project["optional-dependencies"]["netns"])
    assert stub_names(package["optional-dependencies"]["netns"]) == netns
    assert sorted(stub_names(package["dependencies"])) == sorted(
        requirement_names(project["dependencies"]) + netns
    )
    bench = requirement_names(project["optional-dependencies"]["bench"])
    assert stub_names(package["optional-dependencies"]["bench"]) == bench
    assert sorted(stub_names(parts["bench-package"]["dependencies"])) == sorted(
        requirement_names(project["dependencies"]) + netns + bench
    )


def test_test_tools_are_pyprojects_dev_extra(parts: dict[str, Any]) -> None:
    """The dev extra's test tools run the check phase (pytest as its hook), setuptools
    builds, ruff lints (checks.lint), mypy type-checks (`make lint`, and in the shell).
    `nix develop` has all but setuptools: the shell installs nothing, it runs the checkout
    from PYTHONPATH."""
    dev = set(requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"]))
    check = set(stub_names(parts["package"]["nativeCheckInputs"]))
    linters = {"ruff", "mypy", "types-pyyaml"}
    assert check == (dev - {"pytest", "setuptools"} - linters) | {"pytestCheckHook"}
    assert stub_names(parts["package"]["build-system"]) == ["setuptools"]
    shell = set(stub_names(parts["shell"]["python"])) | set(stub_names(parts["shell"]["packages"]))
    assert dev - {"setuptools"} <= shell
    assert set(stub_names(parts["package"]["dependencies"])) <= shell


def test_test_selection_exists_and_is_importable(parts: dict[str, Any]) -> None:
    for path in parts["package"]["enabledTestPaths"]:
        assert (REPO / path).exists(), path
    for module in parts["package"]["pythonImportsCheck"]:
        assert importlib.util.find_spec(module) is not None, module


def test_service_tests_run_the_suite_with_real_datastores(parts: dict[str, Any]) -> None:
    checks = parts["service-tests"]
    assert checks["enabledTestPaths"] == ["tests"]
    # The flake's own checks need nix, which the build sandbox does not have; the
    # NetworkPolicy analysis needs network-config-analyzer, which nixpkgs does not have.
    assert checks["disabledTestPaths"] == ["tests/nix", "tests/k8s/test_policies.py"]
    assert {"postgresql", "redis"} <= set(stub_names(checks["nativeCheckInputs"]))
    marker = checks["pytestFlags"][checks["pytestFlags"].index("-m") + 1]
    declared = {m.split(":")[0] for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]}
    # `isolated` only narrows `slow` (a whole stack on loopback): excluding slow excludes it.
    assert set(re.findall(r"not (\w+)", marker)) == declared - {"isolated"}


# -- the images -----------------------------------------------------------------


def dockerfile(path: Path) -> dict[str, str]:
    """Instructions of the final stage (the last of each kind), continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    final = re.split(r"^FROM ", text, flags=re.MULTILINE)[-1]
    instructions = {}
    for line in final.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions[keyword.upper()] = rest.strip()
    return instructions


def nanoseconds(duration: str) -> int:
    return int(duration.removesuffix("s")) * 1_000_000_000


def health_check(instruction: str) -> dict[str, Any]:
    """A HEALTHCHECK instruction as Docker stores it in an image's config."""
    options, _, command = instruction.partition("CMD ")
    test = ["CMD", *json.loads(command)] if command.startswith("[") else ["CMD-SHELL", command]
    check: dict[str, Any] = {"Test": test}
    for key, value in (o.removeprefix("--").split("=") for o in options.split()):
        name = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod"}
        check.update(
            {"Retries": int(value)} if key == "retries" else {name[key]: nanoseconds(value)}
        )
    return check


def environment(instruction: str) -> dict[str, str]:
    """ENV k=v … without PATH (the Nix images keep everything in /bin)."""
    pairs = dict(item.split("=", 1) for item in shlex.split(instruction))
    pairs.pop("PATH", None)
    return pairs


IMAGES = {
    "service": REPO / "containers" / "Dockerfile",
    "redis": REPO / "containers" / "redis" / "Dockerfile",
    "postgres": REPO / "containers" / "postgres" / "Dockerfile",
}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_keeps_its_dockerfiles_contract(parts: dict[str, Any], image: str) -> None:
    docker = dockerfile(IMAGES[image])
    config = parts["images"][image]["config"]
    assert config["User"] == docker["USER"]
    assert set(config["ExposedPorts"]) == {f"{port}/tcp" for port in docker["EXPOSE"].split()}
    assert config["StopSignal"] == docker["STOPSIGNAL"]
    assert config["Healthcheck"] == health_check(docker["HEALTHCHECK"])
    assert config.get("Cmd") == json.loads(docker["CMD"])
    if "ENTRYPOINT" in docker:
        assert config["Entrypoint"] == json.loads(docker["ENTRYPOINT"])
    if "WORKDIR" in docker:
        assert config["WorkingDir"] == docker["WORKDIR"]
    if "VOLUME" in docker:
        assert set(config["Volumes"]) == set(docker["VOLUME"].split())
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env.items() >= environment(docker.get("ENV", "")).items()
    assert env["PATH"] == "/bin"


def test_service_image_runs_what_compose_asks(parts: dict[str, Any]) -> None:
    services = compose.compose_model(default_topology())["services"]
    image = parts["images"]["service"]
    assert image["reference"] == names.SERVICE_IMAGE
    for name in ("registry", "product", "order", "gateway"):
        spec = services[name]
        assert spec["command"] == ["serve", name]
        assert image["config"]["Healthcheck"]["Test"] == spec["healthcheck"]["test"]
    env = dict(item.split("=", 1) for item in image["config"]["Env"])
    # `python3 -m shopnet` with the bare interpreter finds the package through PYTHONPATH.
    assert env["PYTHONPATH"].split(":")[0] == "/stub/shopnet/lib/python3/site-packages"
    assert "/stub/python3" in image["contents"] and "/stub/shopnet" in image["contents"]


def test_datastore_images_fit_composes_services(parts: dict[str, Any]) -> None:
    services = compose.compose_model(default_topology())["services"]
    postgres = parts["images"]["postgres"]
    env = dict(item.split("=", 1) for item in postgres["config"]["Env"])
    (volume,) = services["postgres"]["volumes"]
    assert volume.split(":")[1] == env["PGDATA"]
    # The data directory belongs to the image's postgres user, and the entrypoint is the
    # Debian image's script, copied from containers/postgres/ into the store.
    assert f"-o 999 -g 999 {env['PGDATA'].lstrip('/')}" in postgres["fakeRootCommands"]
    entrypoint = r"/nix/store/\w+-entrypoint\.sh bin/docker-entrypoint\.sh"
    assert re.search(entrypoint, postgres["fakeRootCommands"])
    assert services["redis"]["command"][0] == parts["images"]["redis"]["config"]["Cmd"][0]


def test_loaded_images_are_the_ones_compose_is_told_to_run(parts: dict[str, Any]) -> None:
    """The environment names each loaded image in the variable compose reads for it."""
    services = compose.compose_model(default_topology())["services"]
    environment = dict(parts["load-images"]["environment"])
    # The docker mode's image choice (offline, official; preloaded: as named, never built).
    assert environment.pop(IMAGES_ENV) == "preloaded"
    image_for = dict.fromkeys(("registry", "product", "order", "gateway"), "service")
    image_for.update(redis="redis", postgres="postgres")
    variables = set()
    for service, spec in services.items():
        found = re.fullmatch(r"\$\{(\w+):-[^}]*\}", spec["image"])
        assert found is not None, spec["image"]
        variable = found.group(1)
        assert environment[variable] == parts["images"][image_for[service]]["reference"], service
        variables.add(variable)
    assert set(environment) == variables
    loaded = parts["load-images"]["text"]
    for image in parts["images"].values():
        # Each image's stream script (a stand-in named after the image) is piped to docker.
        assert f"/stub/{image['reference'].split(':')[0]}" in loaded
    assert "| docker image load" in loaded


# -- the launchers --------------------------------------------------------------


def test_launchers_run_the_documented_commands(parts: dict[str, Any]) -> None:
    launchers = parts["launchers"]
    assert launchers["netns-up"]["text"].strip() == 'exec shopnet up --mode netns "$@"'
    assert launchers["netns-down"]["text"].strip() == 'exec shopnet down --mode netns "$@"'
    up = launchers["docker-up"]["text"].split()
    assert up[:1] == ["shopnet-load-images"]
    assert " ".join(up[1:]) == 'exec shopnet up --mode docker "$@"'
    assert launchers["docker-down"]["text"].strip() == 'exec shopnet down --mode docker "$@"'
    assert launchers["docker-up"]["env"] == parts["load-images"]["environment"]
    assert launchers["bench"]["env"] == parts["load-images"]["environment"]


def test_launchers_bring_every_tool_the_modes_run(parts: dict[str, Any]) -> None:
    """The netns mode and the datastore launchers name each binary's Debian package;
    each of those has its nixpkgs counterpart on the launchers' PATH."""
    needed = {**tools.PACKAGES, **datastores.PACKAGES}
    for binary in NOT_NETNS:
        needed.pop(binary)
    unmapped = {b: p for b, p in needed.items() if p not in NIXPKGS_FOR_DEBIAN}
    assert unmapped == {}, "add their nixpkgs package to NIXPKGS_FOR_DEBIAN and the launchers"
    wanted = {NIXPKGS_FOR_DEBIAN[p] for p in needed.values()}
    for name in ("netns-up", "netns-down", "bench"):
        assert wanted <= set(stub_names(parts["launchers"][name]["runtimeInputs"])), name
    assert {"wrk", "nginx", "docker-client"} <= set(
        stub_names(parts["launchers"]["bench"]["runtimeInputs"])
    )


def test_lint_checks_every_nix_file_and_what_make_lint_checks(parts: dict[str, Any]) -> None:
    script = parts["lint"]
    assert "nixfmt --check /stub/source/flake.nix /stub/source/nix/*.nix" in script
    makefile = (REPO / "Makefile").read_text()
    for command in ("ruff check", "ruff format --check"):
        (paths,) = re.findall(rf"\$\(BIN\)/{command} (.+)$", makefile, flags=re.MULTILINE)
        assert f"{command} --no-cache {paths}" in script, command
