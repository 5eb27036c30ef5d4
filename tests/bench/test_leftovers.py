"""A killed bench's stacks: found through the state directory it owned, and only then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopnet.bench import leftovers
from tests.support.servers import scratch_dir
from tests.support.stack import require_default_resources


def test_only_the_directories_of_benches_no_longer_running_are_killed_ones(
    tmp_path: Path,
) -> None:
    mine = leftovers.own_root(tmp_path)  # this process: running
    dead = leftovers.own_root(tmp_path)
    (dead / leftovers.OWNER).write_text("999999999 1")  # no such process
    reused = leftovers.own_root(tmp_path)  # this pid, another start time: a reused pid
    pid, started = (mine / leftovers.OWNER).read_text().split()
    (reused / leftovers.OWNER).write_text(f"{pid} {int(started) + 1}")
    unnamed = leftovers.own_root(tmp_path)
    (unnamed / leftovers.OWNER).unlink()  # killed before it named itself
    assert set(leftovers.killed_roots(tmp_path)) == {dead, reused, unnamed}
    assert mine.stat().st_mode & 0o777 == 0o755  # the datastores run as their own users


def _namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.startswith(prefix)]


@pytest.mark.slow
@pytest.mark.root
def test_down_removes_the_stack_of_a_bench_killed_mid_run(tmp_path: Path) -> None:
    require_default_resources("netns")
    # The bench's and down's temp directory is this test's: no one else's bench is seen.
    tmp = scratch_dir("shopnet-benchtmp-")
    tmp.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "shopnet", "--state-dir", str(tmp_path / "state")]
    log = tmp_path / "bench.log"
    with log.open("w") as out:
        bench = subprocess.Popen(
            [*cli, "bench", "--quick", "--modes", "netns", "-o", str(tmp_path / "out")],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "starting the stack: done" not in log.read_text():
            assert bench.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(bench.pid, signal.SIGKILL)  # the bench and its wrk: nothing cleans up
        bench.wait()
    [root] = tmp.glob(leftovers.ROOT_PREFIX + "*")
    try:
        assert _namespaces("snb-"), "the killed bench's stack was up"
        down = subprocess.run(
            [*cli, "down"], capture_output=True, text=True, env=env, timeout=180, check=False
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert "a killed bench's netns stack" in down.stderr, down.stderr
        assert _namespaces("snb-") == []
        assert not root.exists()  # its secrets with it
    finally:
        subprocess.run([*cli, "down"], capture_output=True, env=env, timeout=180, check=False)
