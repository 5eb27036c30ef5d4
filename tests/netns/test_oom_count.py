"""Reading an instance's OOM-kill count from its memory cgroup, on either cgroup version
(a cgroup tree laid out in a temporary directory: no root needed). The count itself
growing under a real OOM kill is tests/runtime/test_supervisor.py's (root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopnet_netns import cgroups
from shopnet_netns.names import Names

NAMES = Names("sntest")


@pytest.mark.parametrize(
    ("fstype", "options", "events", "text"),
    [
        ("cgroup2", "rw", "memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\n"),
        (
            "cgroup",
            "rw,memory",
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        ),
    ],
)
def test_the_oom_kill_count_is_read_from_the_instance_cgroup(
    tmp_path: Path, fstype: str, options: str, events: str, text: str
) -> None:
    root = tmp_path / "memory"
    instance = root / NAMES.cgroup / "gateway-1"
    instance.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"30 1 0:26 / {root} rw - {fstype} {fstype} {options}\n")
    assert cgroups.oom_kills(NAMES, "gateway-1", mountinfo=mountinfo) is None  # no file yet
    (instance / events).write_text(text)
    assert cgroups.oom_kills(NAMES, "gateway-1", mountinfo=mountinfo) == 2
    assert cgroups.oom_kills(NAMES, "gateway-2", mountinfo=mountinfo) is None
