"""`shopnet bench --ladder` for real on a short setting, and its teardown (also after kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopnet.bench.ladder import plumbing, teardown
from tests.support.servers import scratch_dir
from tests.support.stack import shopnet

pytestmark = [pytest.mark.slow, pytest.mark.root]

SHORT = ("--ladder", "--quick", "--repeats", "1", "--duration", "1")


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the ladder builds namespaces: root only")


def _probe_processes() -> list[int]:
    """sockperf/iperf3 processes in any namespace of the ladder's."""
    found = []
    for ns in plumbing.ladder_namespaces():
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        found += [int(pid) for pid in out.stdout.split()]
    return found


def _nothing_left() -> None:
    assert teardown.leftovers() == []
    assert _probe_processes() == []


def test_a_short_ladder_measures_each_row_and_leaves_nothing(tmp_path: Path) -> None:
    root = scratch_dir("shopnet-ladder-")
    out = tmp_path / "ladder"
    result = shopnet(
        root, "bench", *SHORT, "--rows", "loopback,veth,bridge", "-o", str(out), timeout=180
    )
    assert result.stdout.strip().endswith("ladder.md")
    data = json.loads((out / "ladder.json").read_text())
    assert [r["name"] for r in data["rows"]] == ["loopback", "veth", "bridge"]
    assert [r["base"] for r in data["rows"]] == [None, "loopback", "veth"]
    samples = {s["row"]: s for s in data["samples"]}
    assert set(samples) == {"loopback", "veth", "bridge"}
    for sample in samples.values():
        assert 0 < sample["p50_us"] <= sample["p99_us"]
        assert sample["transactions_per_s"] > 100 and sample["gbps"] > 0
        assert 0 < sample["kernel_us"] <= sample["cpu_us"]
    facts = data["machine"]
    assert facts["kernel"] and facts["cpu"] and "mitigations" in facts
    assert "br_netfilter" in facts and "nf_conntrack_max" in facts["conntrack"]
    report = (out / "ladder.md").read_text()
    assert "| veth | loopback |" in report and "| bridge | veth |" in report
    assert (out / "charts" / "ladder.png").read_bytes()[:4] == b"\x89PNG"
    _nothing_left()


def _killed_mid_run(
    tmp_path: Path, root: Path, rows: str = "loopback,veth", *, quick: bool = True
) -> None:
    """Start a ladder, kill -9 it once its rows are built and measuring."""
    out = tmp_path / f"killed-{time.monotonic_ns()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "shopnet", "--state-dir", str(root), "bench", "--ladder",
         *(["--quick"] if quick else []), "--repeats", "5", "--duration", "1", "--rows", rows,
         "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = out / "ladder.json"
            if path.is_file() and json.loads(path.read_text() or "{}").get("samples"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the ladder measured nothing in 60 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert teardown.leftovers(), "kill -9 leaves the ladder's rows behind"


def test_after_kill_9_a_rerun_and_shopnet_down_remove_the_leftovers(tmp_path: Path) -> None:
    root = scratch_dir("shopnet-ladder-")
    _killed_mid_run(tmp_path, root)
    assert _probe_processes(), "kill -9 leaves the probe servers running in the namespaces"
    rerun = shopnet(root, "bench", *SHORT, "--rows", "loopback", "-o", str(tmp_path / "r"))
    assert "removed what an earlier run left" in rerun.stderr
    _nothing_left()

    _killed_mid_run(tmp_path, root)
    down = shopnet(root, "down")
    assert "removed ladder namespace ladder-va" in down.stderr
    _nothing_left()


@pytest.mark.docker
def test_after_kill_9_shopnet_down_removes_the_containers_and_their_probes(
    tmp_path: Path,
) -> None:
    if not plumbing.docker_ready():
        pytest.skip("dockerd is not running")
    root = scratch_dir("shopnet-ladder-")
    _killed_mid_run(tmp_path, root, rows="docker network")
    (server,) = [c for c in plumbing.ladder_containers() if c == "ladder-c2"]
    netns = os.readlink(f"/proc/{plumbing.container_pid(server)}/ns/net")
    probes = plumbing.probes_in_netns(netns)
    assert probes, "the probes entered with nsenter outlive the killed ladder"
    shopnet(root, "down")
    _nothing_left()
    deadline = time.monotonic() + 5  # killed, then reaped by init
    while [pid for pid in probes if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in probes if Path(f"/proc/{pid}").exists()]


@pytest.mark.docker
def test_the_swarm_overlay_row_measures_across_two_engines_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """The full run's swarm row alone, one short repeat; after it, no swarm, no node 2."""
    if not plumbing.docker_ready():
        pytest.skip("dockerd is not running")
    state = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    root = scratch_dir("shopnet-ladder-")
    out = tmp_path / "swarm"
    shopnet(root, "bench", "--ladder", "--repeats", "1", "--duration", "1",
            "--rows", "swarm overlay", "-o", str(out), timeout=180)  # fmt: skip
    data = json.loads((out / "ladder.json").read_text())
    (row,) = data["rows"]
    assert row["base"] == "VXLAN"
    if state != "inactive":  # a swarm that is not ours: skipped, left alone
        assert "already in a swarm" in row["skipped"]
        return
    (sample,) = data["samples"]
    assert 0 < sample["p50_us"] <= sample["p99_us"] and sample["gbps"] > 0
    _nothing_left()
    after = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert after == "inactive"
    assert not Path("/sys/class/net/ladder-h").exists()


@pytest.mark.docker
def test_after_kill_9_shopnet_down_leaves_the_ladders_swarm_and_stops_its_second_engine(
    tmp_path: Path,
) -> None:
    if not plumbing.docker_ready():
        pytest.skip("dockerd is not running")
    if _swarm_state() != "inactive":
        pytest.skip("this engine is in a swarm that is not the ladder's: the row is skipped")
    root = scratch_dir("shopnet-ladder-")
    _killed_mid_run(tmp_path, root, rows="swarm overlay", quick=False)
    assert _swarm_state() == "active" and Path("/sys/class/net/ladder-h").exists()
    down = shopnet(root, "down")
    assert "removed ladder node 2's dockerd" in down.stderr
    _nothing_left()
    assert _swarm_state() == "inactive" and not Path("/sys/class/net/ladder-h").exists()


def _swarm_state() -> str:
    return subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
