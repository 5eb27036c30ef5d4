"""Process records: written by the child itself, matched by start time, stopped in phases."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from shopnet.runtime import process

SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")
# A process that ignores SIGTERM: stop() must escalate to SIGKILL.
STUBBORN = (
    sys.executable,
    "-c",
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('up', flush=True)\n"
    "time.sleep(60)\n",
)


def spec(tmp_path: Path, name: str, argv=SLEEPER, **kw) -> process.ProcessSpec:
    return process.ProcessSpec(instance=name, argv=argv, log_path=tmp_path / f"{name}.log", **kw)


def test_spawned_process_is_recorded_before_spawn_returns(tmp_path: Path) -> None:
    pid = process.spawn(spec(tmp_path, "a"), owner=str(tmp_path), pid_dir=tmp_path / "pids")
    try:
        records = process.records(tmp_path / "pids")
        assert [(r.instance, r.pid) for r in records] == [("a", pid)]
        assert process.tagged_processes(str(tmp_path)) == {pid: "a"}
    finally:
        process.stop_all(tmp_path / "pids", owner=str(tmp_path))
    assert not process.alive(pid)
    assert list((tmp_path / "pids").iterdir()) == []


def test_a_recycled_pid_is_never_taken_for_ours(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    # A record whose pid exists (this test process) but whose start time does not match.
    real = process.start_time(os.getpid())
    assert real is not None
    (pid_dir / "ghost.pid").write_text(f"{os.getpid()} {real + 1} 15 0\n")
    assert process.records(pid_dir) == []


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    pid = process.spawn(
        spec(tmp_path, "stubborn", STUBBORN), owner=str(tmp_path), pid_dir=tmp_path / "pids"
    )
    deadline = time.monotonic() + 5
    while b"up" not in (tmp_path / "stubborn.log").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    killed = process.stop([(pid, signal.SIGTERM)], timeout=0.5)
    assert killed == [pid]
    assert not process.alive(pid)


def test_stop_all_stops_services_before_datastores(tmp_path: Path) -> None:
    # The datastore-phase process logs the moment it gets SIGTERM; the service-phase one must
    # already be gone by then.
    watcher = (
        sys.executable,
        "-c",
        "import os, signal, sys, time\n"
        "def bye(*_):\n"
        "    other = int(open(sys.argv[1]).read().split()[0])\n"
        "    alive = os.path.exists(f'/proc/{other}')\n"
        "    print('service alive at datastore stop:', alive, flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('armed', flush=True)\n"
        "time.sleep(60)\n",
        str(tmp_path / "pids" / "svc.pid"),
    )
    process.spawn(spec(tmp_path, "svc"), owner=str(tmp_path), pid_dir=tmp_path / "pids")
    process.spawn(
        spec(tmp_path, "db", watcher, stop_phase=1), owner=str(tmp_path), pid_dir=tmp_path / "pids"
    )
    # Its SIGTERM handler must be in place before the stop (a loaded machine starts it slowly).
    deadline = time.monotonic() + 30
    while "armed" not in (tmp_path / "db.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.stop_all(tmp_path / "pids", owner=str(tmp_path)) == []
    assert "service alive at datastore stop: False" in (tmp_path / "db.log").read_text()
