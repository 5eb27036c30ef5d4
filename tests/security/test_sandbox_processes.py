"""The sandbox around real processes (as root; no stack, no shared resources)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime import datastores, process, sandbox, users
from shopnet.runtime.confine import Confinement
from shopnet.runtime.state import Layout
from shopnet.topology import default_topology
from tests.support.servers import free_port, scratch_dir

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="unshare and setpriv as root"),
]

CHECK = """
import os, socket
from pathlib import Path
own = Path(os.environ["OWN"])
(own / "written").write_text("ok")
for path in ("/etc/shopnet-sandbox-probe", os.environ["HOST_FILE"]):
    try:
        open(path, "w")
        print("WROTE", path)
    except OSError as exc:
        print("refused", exc.errno)
print("tmp", sorted(os.listdir("/tmp")))
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("host", socket.gethostname(), "uid", os.getuid())
"""


@pytest.fixture
def place() -> Iterator[Path]:
    root = scratch_dir("shopnet-test-sandbox-")
    (root / "own").mkdir()
    (root / "pids").mkdir()
    yield root
    process.stop_all(root / "pids", owner=str(root), timeout=5)
    shutil.rmtree(root, ignore_errors=True)


def _box(root: Path) -> sandbox.Sandbox:
    user = users.ensure("shopnet-product")
    os.chown(root / "own", user.uid, user.gid)
    return sandbox.Sandbox(user=user, writable=(root / "own",), hostname="probe-1")


def test_only_its_own_directory_is_writable_and_the_host_is_out_of_sight(place: Path) -> None:
    # Outside /tmp (which the sandbox replaces), writable by anyone: only a read-only
    # mount can refuse it.
    host_file = Path("/var/tmp") / f"{place.name}-host-file"
    host_file.write_text("")
    host_file.chmod(0o666)
    argv = sandbox.wrap(
        (sys.executable, "-c", CHECK),
        _box(place),
        pidfile=place / "pids" / "probe.pid",
        stop_signal=signal.SIGTERM,
        stop_phase=0,
    )
    env = {**os.environ, "OWN": str(place / "own"), "HOST_FILE": str(host_file)}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=30, check=False
        )
    finally:
        host_file.unlink()
    assert done.returncode == 0, done.stderr
    assert (place / "own" / "written").read_text() == "ok"
    assert "WROTE" not in done.stdout and done.stdout.count("refused 30") == 2  # EROFS
    # A private /tmp: only the way to its own directory (which lies under the host's /tmp),
    # and to our code when the checkout lies there too.
    code = {
        p.relative_to("/tmp").parts[0] for p in sandbox.needed_paths() if Path("/tmp") in p.parents
    }
    assert f"tmp {sorted({place.name} | code)!r}" in done.stdout
    pids = next(line for line in done.stdout.splitlines() if line.startswith("pids "))
    assert len(pids[5:].strip("[]").split(",")) == 2  # the init and the service, no host pid
    assert "host probe-1 uid " in done.stdout and "uid 0" not in done.stdout


def test_a_service_still_starting_stops_on_sigterm(place: Path) -> None:
    """No handler yet (still importing): the init passes SIGTERM on, and the default kills."""
    argv = sandbox.wrap(
        (sys.executable, "-c", "import time; time.sleep(60)"),
        _box(place),
        pidfile=place / "pids" / "slow.pid",
        stop_signal=signal.SIGTERM,
        stop_phase=0,
    )
    spec = process.ProcessSpec(
        instance="slow", argv=argv, log_path=place / "slow.log", stop_signal=signal.SIGKILL
    )
    outer = process.spawn(spec, owner=str(place), pid_dir=place / "pids")
    deadline = time.monotonic() + 10
    while not any(r.pid != outer for r in process.records(place / "pids")):
        assert time.monotonic() < deadline, "the sandbox never recorded its own pid"
        time.sleep(0.05)
    (record,) = process.records(place / "pids")
    assert record.stop_signal == signal.SIGTERM  # the real one, once the sandbox runs
    time.sleep(0.5)
    assert process.stop_all(place / "pids", owner=str(place), timeout=5) == []
    assert not process.alive(outer)


def test_postgres_in_its_sandbox_takes_the_fast_shutdown(place: Path) -> None:
    """SIGINT reaches the postmaster through the init (a script's `&` would ignore it)."""
    layout = Layout(place / "stack")
    layout.prepare()
    data = layout.data / "postgres"
    datastores.init_postgres(data, password="unused")
    port = free_port()
    spec = datastores.postgres_spec(
        "postgres-1", bind="127.0.0.1", port=port, data_dir=data, log_path=layout.log("postgres-1")
    )
    spec = Confinement(layout).confine(
        spec, default_topology().service("postgres"), private_pids=True
    )
    # Started as from a script's `&`: SIGINT ignored, which the sandbox must not pass on.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.spawn(spec, owner=str(layout.dir), pid_dir=layout.pids)
    finally:
        signal.signal(signal.SIGINT, previous)
    datastores.wait_for_postgres("127.0.0.1", port)
    assert process.stop_all(layout.pids, owner=str(layout.dir), timeout=10) == []
    assert "fast shutdown request" in layout.log("postgres-1").read_text()


@pytest.mark.parametrize("mode", [0o700, 0o755], ids=["closed", "open"])
def test_code_under_a_folder_in_tmp_is_reached(
    place: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    """A checkout under the /tmp the sandbox replaces still runs: in a `mktemp -d` folder
    (0700: shimmed), or in an open one (`git clone … /tmp/x`: kept as it is)."""
    closed = Path(tempfile.mkdtemp(prefix="shopnet-test-tmp-"))
    closed.chmod(mode)
    code = closed / "checkout"
    code.mkdir(mode=0o755)
    (code / "probe.py").write_text("print('reached')\n")
    needed = sandbox.needed_paths()
    monkeypatch.setattr(sandbox, "needed_paths", lambda: (*needed, code))
    argv = sandbox.wrap(
        (sys.executable, str(code / "probe.py")),
        _box(place),
        pidfile=place / "pids" / "probe.pid",
        stop_signal=signal.SIGTERM,
        stop_phase=0,
    )
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    finally:
        shutil.rmtree(closed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "reached\n"
