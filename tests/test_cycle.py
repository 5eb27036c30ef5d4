"""`shopnet cycle`: the table of rounds, what counts as clean, and one real local cycle."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from shopnet import cycle
from shopnet.errors import ConfigError
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from tests.support.servers import free_port, scratch_dir

GOOD = cycle.Round("local", 1, "17:00:00", up_s=3.21, served=True, down_s=0.84)


def test_a_clean_cycle_is_ok_and_its_table_shows_every_round() -> None:
    second = cycle.Round("local", 2, "17:00:05", up_s=2.5, served=True, down_s=0.7)
    report = cycle.CycleReport((GOOD, second), {"local": []})
    assert report.ok
    text = cycle.table(report)
    assert "| local | 1 | 17:00:00 | 3.2 | ok | 0.8 |  |" in text
    assert "| local | 2 | 17:00:05 | 2.5 | ok | 0.7 |  |" in text
    assert "left after local: nothing" in text and text.endswith("2/2 rounds ok; clean\n")


def test_a_failed_round_or_a_leftover_fails_the_cycle() -> None:
    failed = cycle.Round("swarm", 2, "17:01:00", up_s=None, down_s=9.5, error="DriverError: x|y")
    report = cycle.CycleReport((GOOD, failed), {"local": [], "swarm": []})
    assert not report.ok
    text = cycle.table(report)
    assert "| swarm | 2 | 17:01:00 | – | – | 9.5 | DriverError: x/y |" in text  # cells stay cells
    assert text.endswith("1/2 rounds ok; FAILED\n")

    left = cycle.CycleReport((GOOD,), {"local": ["process gateway-1 (pid 4242)"]})
    assert not left.ok
    assert "left after local: process gateway-1 (pid 4242)" in cycle.table(left)


def test_modes_are_checked_before_anything_runs() -> None:
    topology = default_topology()
    assert cycle.parse_modes("local, netns:hosts2", topology) == ("local", "netns:hosts2")
    with pytest.raises(ConfigError):
        cycle.parse_modes("local,vm", topology)


@pytest.mark.slow
def test_two_local_rounds_serve_and_leave_nothing() -> None:
    """The whole command's logic on the quickest mode: two real rounds, then the check."""
    topology = dataclasses.replace(default_topology(), published_port=free_port())
    root = scratch_dir("shopnet-cycle-test-")  # the datastores' users must reach it
    try:
        report = cycle.run(
            ["local"], 2, topology=topology, root=root, progress=Progress(quiet=True)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert [(r.mode, r.number) for r in report.rounds] == [("local", 1), ("local", 2)]
    assert report.ok, cycle.table(report)
    assert all(r.up_s and r.down_s is not None for r in report.rounds)
    assert report.leftovers == {"local": []}
