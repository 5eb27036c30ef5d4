"""What the flake offers, evaluated against stand-ins for nixpkgs: the outputs the
README promises exist on both systems, each app runs the command it claims, and the
VM test's script is Python the NixOS test driver can run."""

from __future__ import annotations

import ast
import builtins

from tests.nix.nixcli import Nix
from tests.nix.stubbed import SYSTEMS, evaluate

PACKAGES = {
    "default",
    "shopnet",
    "image-service",
    "image-redis",
    "image-postgres",
    "netns-launcher",
}
APPS = {
    "netns-up": "shopnet-netns-up",
    "netns-down": "shopnet-netns-down",
    "docker-up": "shopnet-docker-up",
    "docker-down": "shopnet-docker-down",
    "bench": "shopnet-bench",
}
CHECKS = {"package", "service-tests", "lint", "vm"}


def test_outputs_for_every_system(nix: Nix) -> None:
    names = evaluate(
        nix,
        """{
          outputs = builtins.attrNames outputs;
          per-system = builtins.mapAttrs (output: value: builtins.mapAttrs (system: builtins.attrNames) value)
            (builtins.removeAttrs outputs [ "formatter" "legacyPackages" ]);
          formatter = builtins.attrNames outputs.formatter;
        }""",
    )
    assert set(names["outputs"]) == {
        "packages",
        "apps",
        "devShells",
        "checks",
        "formatter",
        "legacyPackages",
    }
    assert set(names["formatter"]) == set(SYSTEMS)
    expected = {"packages": PACKAGES, "apps": set(APPS), "devShells": {"default"}, "checks": CHECKS}
    for output, wanted in expected.items():
        assert {s: set(n) for s, n in names["per-system"][output].items()} == {
            system: wanted for system in SYSTEMS
        }, output


def test_apps_run_their_launchers_and_say_what_they_do(nix: Nix) -> None:
    apps = evaluate(nix, 'outputs.apps."x86_64-linux"')
    for name, program in APPS.items():
        assert apps[name]["type"] == "app"
        assert apps[name]["program"] == f"/stub/bin/{program}", name
        assert len(apps[name]["meta"]["description"]) > 20, name


def test_default_package_is_the_cli(nix: Nix) -> None:
    package = evaluate(
        nix, 'let p = outputs.packages."x86_64-linux"; in { inherit (p.default) pname meta; }'
    )
    assert package["pname"] == "shopnet"
    assert package["meta"]["mainProgram"] == "shopnet"


def test_vm_test_script_is_python_for_the_test_driver(nix: Nix) -> None:
    """It compiles, and uses no name beyond its own and the driver's (as pyflakes checks)."""
    script = evaluate(nix, 'outputs.checks."x86_64-linux".vm.testScript')
    tree = ast.parse(script)
    defined = {"machine", "start_all", "subtest", *dir(builtins)}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
            defined.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Import):
            defined.update(alias.asname or alias.name for alias in node.names)
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    assert loaded - defined == set()
    assert "shopnet-netns-up" in script and "shopnet-docker-up" in script
