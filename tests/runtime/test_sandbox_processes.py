"""The sandbox around real processes (as root; no stack, no shared resources)."""

from __future__ import annotations

import ast
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime import cgroups, datastores, nofollow, pids, process, sandbox, users
from shopnet.runtime.confine import Confinement
from shopnet.runtime.secrets import SecretStore
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


LOCKED_IN = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for name, flag in (("user", 0x10000000), ("net", 0x40000000), ("mount", 0x20000)):
    failed = libc.unshare(flag) != 0
    print("unshare", name, "refused" if failed else "ALLOWED", ctypes.get_errno())
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("seccomp", status["Seccomp"].strip())
pid = os.fork()  # plain fork/clone still works, and so does a thread
if pid == 0:
    os._exit(7)
print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
import threading; t = threading.Thread(target=lambda: None); t.start(); t.join()
for path in ("/run", "/var/run", "/home", "/root"):
    print("ls", path, sorted(os.listdir(path)) if os.path.isdir(path) else "absent")
"""


def test_the_syscall_filter_refuses_namespaces_and_the_host_paths_are_masked(place: Path) -> None:
    argv = sandbox.wrap(
        (sys.executable, "-c", LOCKED_IN),
        _box(place),
        pidfile=place / "pids" / "probe.pid",
        stop_signal=signal.SIGTERM,
        stop_phase=0,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for name in ("user", "net", "mount"):
        assert f"unshare {name} refused 1\n" in out, out  # EPERM, from the filter
    assert "seccomp 2\n" in out and "child 7\n" in out
    # Empty, but for what the service itself needs (the interpreter may live under /root)
    # and libmount's own record of the sandbox's mounts (/run/mount, on the mask itself).
    shown = {
        line.split()[1]: set()
        if line.endswith("absent")
        else set(ast.literal_eval(line[4:].split(" ", 1)[1]))
        for line in out.splitlines()
        if line.startswith("ls ")
    }
    resolver = {p.relative_to("/run").parts[0] for p in sandbox.resolver_dir()}
    assert shown["/run"] <= {"mount", *resolver} and shown["/var/run"] == shown["/run"], out
    assert shown["/home"] == set(), out
    needed = {p for p in sandbox.needed_paths() if Path("/root") in p.parents}
    assert shown["/root"] == {p.relative_to("/root").parts[0] for p in needed}, out


def test_an_ordinary_user_gets_the_filter_too() -> None:
    argv = (*sandbox.no_new_privs(), sys.executable, "-c", LOCKED_IN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "unshare user refused 1\n" in done.stdout and "seccomp 2\n" in done.stdout


FORK_BOMB = """
import os, signal, sys, time
children = []
try:
    while len(children) < 2000:  # bounded even were the limit missing
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    print("forked", len(children), "NOT STOPPED")
except BlockingIOError:
    print("forked", len(children), "stopped")
finally:
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
"""


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_host_forks_on(place: Path) -> None:
    service = default_topology().service("product")
    parent = f"shopnet-test-{place.name}"
    limits = cgroups.apply(parent, "product-1", service, only=("pids",))
    try:
        if limits.problems:
            pytest.skip(f"no pids cgroup here: {limits.problems}")
        argv = sandbox.wrap(
            (sys.executable, "-c", FORK_BOMB),
            _box(place),
            pidfile=place / "pids" / "bomb.pid",
            stop_signal=signal.SIGTERM,
            stop_phase=0,
        )
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=lambda: cgroups.place(limits) and None,
        )
        assert done.returncode == 0, done.stderr
        forked = int(done.stdout.split()[1])
        # unshare, the setup shell, the init and the interpreter count too.
        assert "stopped" in done.stdout and pids.APP - 8 <= forked < pids.APP, done.stdout
        assert subprocess.run(["true"], check=False).returncode == 0  # the host is fine
    finally:
        _, problems = cgroups.remove(parent)
    assert not problems


def test_a_link_planted_in_place_of_the_socket_directory_is_refused(place: Path) -> None:
    """postgres owns its data directory: `run` there may be a link to /etc by the next `up`."""
    target = place / "etc"
    target.mkdir(mode=0o755)
    data = place / "data" / "postgres"
    data.mkdir(parents=True)
    postgres = pwd.getpwnam(datastores.postgres_user() or "nobody")
    os.chown(data, postgres.pw_uid, postgres.pw_gid)
    os.symlink(target, data / "run")
    with pytest.raises(nofollow.PlantedLink, match="refusing"):
        datastores.postgres_spec(
            "postgres-1", bind="127.0.0.1", port=1, data_dir=data, log_path=place / "pg.log"
        )
    assert target.stat().st_uid == 0 and stat.S_IMODE(target.stat().st_mode) == 0o755
    # Without a link, the directory is made the postgres user's, 0700.
    (data / "run").unlink()
    datastores.postgres_spec(
        "postgres-1", bind="127.0.0.1", port=1, data_dir=data, log_path=place / "pg.log"
    )
    made = (data / "run").stat()
    assert (made.st_uid, stat.S_IMODE(made.st_mode)) == (postgres.pw_uid, 0o700)


def test_a_link_planted_in_a_secrets_folder_is_not_followed(place: Path) -> None:
    user = users.ensure("shopnet-product")
    store = SecretStore(place / "secrets")
    store.write("product", "redis", "first", user=user)
    victim = place / "victim"
    victim.write_text("root's\n")
    folder = store.folder("product", user=user)
    os.symlink(victim, folder / ".redis.tmp")  # where the next write starts
    store.write("product", "redis", "second", user=user)
    assert victim.read_text() == "root's\n" and victim.stat().st_uid == 0
    assert (folder / "redis").read_text() == "second\n"
    assert stat.S_IMODE((folder / "redis").stat().st_mode) == 0o600
    (folder / "redis").unlink()
    os.symlink(victim, folder / "redis")  # read in place of the secret
    with pytest.raises(nofollow.PlantedLink):
        store.get("product", "redis", user=user)
