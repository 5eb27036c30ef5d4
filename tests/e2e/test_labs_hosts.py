"""The lab that needs two hosts, on one real netns `--hosts 2` stack: the underlay link
that no longer carries the VXLAN overlay's full frames."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.lab.catalog import HOSTS_LABS
from shopnet.runtime.base import Driver
from tests.e2e.labflow import exercise, netns_driver, netns_stack
from tests.support.stack import shopnet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
]


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    with netns_stack("labs-hosts", "--hosts", "2") as path:
        yield path


@pytest.fixture(scope="module")
def driver(root: Path) -> Driver:
    return netns_driver(root)


@pytest.mark.parametrize("name", [lab.name for lab in HOSTS_LABS])
def test_two_host_lab_fails_until_fixed_and_reset_alone_restores(
    root: Path, driver: Driver, name: str
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return shopnet(root, *args, "--mode", "netns", check=False)

    exercise(run, driver, name)
