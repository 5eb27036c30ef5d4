"""Every lab on one real netns stack: start makes `check` fail with the lab's message, the
reference fix makes it pass, and `reset` alone restores a stack that passes `validate`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.lab.catalog import LABS
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
    with netns_stack("labs") as path:
        yield path


@pytest.fixture(scope="module")
def driver(root: Path) -> Driver:
    return netns_driver(root)


def lab(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return shopnet(root, "lab", *args, "--mode", "netns", check=check)


def failing_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def test_validate_passes_on_a_fresh_stack_and_fails_one_line_per_expectation(root: Path) -> None:
    fine = shopnet(root, "validate", "--mode", "netns", check=False)
    assert fine.returncode == 0, fine.stdout
    names = [line.split(":")[0].split()[-1] for line in fine.stdout.splitlines()]
    assert len(names) == 6 and failing_lines(fine.stdout) == []
    strict = shopnet(root, "validate", "--mode", "netns", "--p99-bound", "0.01", check=False)
    assert strict.returncode == 1
    assert [line.split(":")[0] for line in failing_lines(strict.stdout)] == ["FAIL  p99"]


ONE_HOST_NETNS = [lab.name for lab in LABS if lab.mode == "netns" and lab.hosts == 1]
"""This module's stack; the two-host and docker labs have their own (test_labs_hosts.py,
tests/docker/test_labs.py)."""


@pytest.mark.parametrize("name", ONE_HOST_NETNS)
def test_lab_fails_until_fixed_and_reset_alone_restores(
    root: Path, driver: Driver, name: str
) -> None:
    def run(*verb: str) -> subprocess.CompletedProcess[str]:
        return shopnet(root, *verb, "--mode", "netns", check=False)

    exercise(run, driver, name, all_hints=name == ONE_HOST_NETNS[0])


def test_a_second_lab_waits_for_reset_and_down_removes_a_planted_fault(root: Path) -> None:
    lab(root, "start", "hole-in-the-firewall")
    again = lab(root, "start", "orders-fail", check=False)
    assert again.returncode == 4
    assert "lab hole-in-the-firewall is running; `shopnet lab reset` first" in again.stderr
    table = subprocess.run(
        ["nft", "list", "table", "inet", "shopnet"], capture_output=True, text=True, check=True
    ).stdout
    assert 'comment "shopnet lab: ' in table  # the planted rule carries our tag
    shopnet(root, "down", "--mode", "netns")
    assert not (root / "netns" / "lab.json").exists()
    gone = subprocess.run(["nft", "list", "table", "inet", "shopnet"], capture_output=True)
    assert gone.returncode != 0
