"""The registry of modes: lazy imports, and what a missing optional dependency says."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from shopnet.cli import main
from shopnet.errors import ConfigError
from shopnet.runtime.base import DRIVERS, Driver, driver_class
from tests.runtime.test_capabilities import CAPABILITIES


def test_unknown_mode_names_the_supported_ones() -> None:
    with pytest.raises(ConfigError, match="unknown mode 'k8s'; supported: local, netns, docker"):
        driver_class("k8s")


def test_every_mode_loads_here() -> None:
    assert [driver_class(mode).mode for mode in DRIVERS] == list(DRIVERS)


def test_a_missing_extra_is_one_line_naming_it() -> None:
    """As on a machine without pyroute2: `None` in sys.modules makes its import fail."""
    program = (
        "import sys; sys.modules['pyroute2'] = None\n"
        "from shopnet.cli import main\n"
        "sys.exit(main(['--state-dir', sys.argv[1], 'up', '--mode', 'netns']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program, "/nonexistent/shopnet-state"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3
    assert out.stderr == (
        "shopnet: error: netns mode needs the 'netns' extra: pip install 'shopnet[netns]'\n"
    )


def test_every_driver_takes_the_arguments_its_interfaces_declare() -> None:
    """What a caller passes per Driver's or a capability's signature, every mode that has
    it accepts (the swarm driver's netem once lacked `rate=`, so `shopnet netem --mode
    swarm` ended in a TypeError)."""
    for mode in DRIVERS:
        cls = driver_class(mode)
        interfaces = [Driver, *(p for p in CAPABILITIES if issubclass(cls, p))]
        for interface in interfaces:
            for name, declared in vars(interface).items():
                if name.startswith("_") or not inspect.isfunction(declared):
                    continue
                own = inspect.signature(getattr(cls, name)).parameters
                for parameter in inspect.signature(declared).parameters.values():
                    assert parameter.name in own, f"{cls.__name__}.{name} lacks {parameter.name}"


@pytest.mark.parametrize("rate", [[], ["--rate", "10mbit"]])
def test_netem_in_swarm_mode_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: list[str]
) -> None:
    argv = ["--state-dir", str(tmp_path), "netem", "--mode", "swarm", "frontend", "--delay", "5"]
    assert main([*argv, *rate]) == ConfigError.exit_code
    assert capsys.readouterr().err == (
        "shopnet: error: netem is not available in swarm mode (it has no tier links on this host)\n"
    )
