"""The supervisor on real processes (no stack): restart with backoff, the limit, deliberate stops.

It runs in a child process (it owns its signals) over a local-mode state directory
whose "instances" are small shell loops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime import process, supervisor
from shopnet.runtime.state import InstanceRecord, Layout, StackState

RUN_SUPERVISOR = """
import sys
from pathlib import Path
from shopnet.runtime import supervisor
from shopnet.runtime.local import LocalDriver
from shopnet.runtime.progress import Progress
from shopnet.topology import load

supervisor.RESTART_LIMIT, supervisor.BACKOFF_FIRST = 3, 0.05
driver = LocalDriver(topology=load(None), root=Path(sys.argv[1]), progress=Progress(quiet=True))
supervisor.Supervisor(driver).run()
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Layout]:
    layout = Layout(tmp_path / "local")
    layout.prepare()
    state = StackState(mode="local", scale={}, phase="up")
    for name, script in (("steady", "sleep 60"), ("crashy", "sleep 0.2; exit 3")):
        state.instances.append(InstanceRecord(name, name, "127.0.0.1", 1))
        spec = process.ProcessSpec(name, ("sh", "-c", script), layout.log(name))
        process.spawn(spec, owner=str(layout.dir), pid_dir=layout.pids)
    state.save(layout)
    watcher = subprocess.Popen([sys.executable, "-c", RUN_SUPERVISOR, str(tmp_path)])
    wait_for(lambda: supervisor.status_file(layout).exists())  # it has taken over
    yield layout
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=10) == 0
    assert process.stop_all(layout.pids, owner=str(layout.dir)) == []


def seen(layout: Layout, name: str) -> supervisor.Supervised:
    return supervisor.read_status(layout).get(name, supervisor.Supervised())


def pid_of(layout: Layout, name: str) -> int | None:
    return next((r.pid for r in process.records(layout.pids) if r.instance == name), None)


def wait_for(ok, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_killed_instance_is_started_again(stack: Layout) -> None:
    first = pid_of(stack, "steady")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: pid_of(stack, "steady") not in (None, first))
    status = seen(stack, "steady")
    assert (status.restarts, status.state) == (1, "running")
    assert status.last_exit in ("signal SIGKILL", "unknown")  # unknown: init reaped it first


def test_an_instance_that_keeps_crashing_is_given_up_after_the_limit(stack: Layout) -> None:
    wait_for(lambda: seen(stack, "crashy").state == "gave up")
    status = seen(stack, "crashy")
    assert status.restarts == 3 and status.last_exit == "exit 3"
    time.sleep(0.5)
    assert seen(stack, "crashy").restarts == 3 and pid_of(stack, "crashy") is None


def test_a_deliberately_stopped_instance_stays_down(stack: Layout) -> None:
    supervisor.mark_stopped(stack, "steady")
    pid = pid_of(stack, "steady")
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: seen(stack, "steady").state == "stopped")
    time.sleep(0.3)
    assert pid_of(stack, "steady") is None and seen(stack, "steady").restarts == 0


def test_spec_files_are_private(stack: Layout) -> None:
    spec = stack.pids / "steady.spec.json"
    assert spec.stat().st_mode & 0o777 == 0o600
    assert json.loads(spec.read_text())["argv"] == ["sh", "-c", "sleep 60"]


OOM_SUPERVISOR = """
import sys
from pathlib import Path
from shopnet.runtime import supervisor
from shopnet.runtime.local import LocalDriver
from shopnet.runtime.progress import Progress
from shopnet.topology import load
from shopnet_netns import cgroups
from shopnet_netns.names import Names

class Driver(LocalDriver):  # local processes, with a memory cgroup's OOM count (netns's)
    def oom_kills(self, record):
        return cgroups.oom_kills(Names(sys.argv[2]), record.name)

supervisor.BACKOFF_FIRST = 30.0  # one exit to look at, no restart meanwhile
driver = Driver(topology=load(None), root=Path(sys.argv[1]), progress=Progress(quiet=True))
supervisor.Supervisor(driver).run()
"""
HOG = "import time; time.sleep(1.5); hog = bytearray(256 << 20); time.sleep(60)"


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_an_oom_kill_is_named_as_the_last_exit(tmp_path: Path) -> None:
    """The kernel's OOM killer sends SIGKILL, which alone does not say who sent it: the
    instance's memory cgroup counts it, and `status` names it (was: "unknown")."""
    from shopnet.topology.model import Service
    from shopnet_netns import cgroups
    from shopnet_netns.names import Names

    names = Names(f"snoom{os.getpid()}")
    service = Service("hog", "backend", 1, 1, memory_mb=64)
    limits = cgroups.apply(names, "hog", service)
    if limits.problems:
        cgroups.remove(names)
        pytest.skip(f"no memory limit here: {limits.problems}")
    layout = Layout(tmp_path / "local")
    layout.prepare()
    state = StackState(mode="local", scale={}, phase="up")
    state.instances.append(InstanceRecord("hog", "hog", "127.0.0.1", 1))
    spec = process.ProcessSpec("hog", (sys.executable, "-c", HOG), layout.log("hog"))
    state.save(layout)
    watcher = None
    try:
        process.spawn(
            spec,
            owner=str(layout.dir),
            pid_dir=layout.pids,
            enter=lambda: (
                None if not cgroups.place(limits) else os._exit(99)
            ),  # in the cgroup, or die
        )
        argv = [sys.executable, "-c", OOM_SUPERVISOR, str(tmp_path), names.prefix]
        watcher = subprocess.Popen(argv)
        wait_for(lambda: seen(layout, "hog").last_exit != "", timeout=15)
        assert seen(layout, "hog").last_exit.startswith("OOM kill"), seen(layout, "hog")
        assert cgroups.oom_kills(names, "hog") == 1
    finally:
        if watcher is not None:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=10)
        process.stop_all(layout.pids, owner=str(layout.dir))
        cgroups.remove(names)
