"""The registry of modes: lazy imports, and what a missing optional dependency says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shopnet.errors import ConfigError
from shopnet.runtime.base import DRIVERS, driver_class


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
