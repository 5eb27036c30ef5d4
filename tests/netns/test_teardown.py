"""Teardown leaves nothing — checked with the system's own tools, not only our discovery —
and converges after a build killed at any point."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from shopnet.runtime import process
from shopnet_netns import NetworkPlan, build, cgroups, discover, enter_instance, isolation, teardown
from shopnet_netns import sysctl as host_sysctl
from tests.netns.helpers import GLOBAL_SYSCTLS, REPO, leftovers, root_only

pytestmark = root_only


def sysctls() -> dict[str, str | None]:
    return {key: host_sysctl.read(key) for key in GLOBAL_SYSCTLS}


def test_teardown_removes_everything_and_restores_sysctls(
    clean: NetworkPlan, tmp_path: Path
) -> None:
    before = sysctls()
    build(clean)
    registry = clean.endpoint("registry-1")
    limits = cgroups.apply(clean.names, registry.name, registry.instance.service)
    assert limits.problems == ()
    sleeper = process.ProcessSpec(
        instance=registry.name,
        argv=(sys.executable, "-c", "import time; time.sleep(120)"),
        log_path=tmp_path / "sleeper.log",
    )
    pid = process.spawn(
        sleeper,
        owner=str(tmp_path),
        pid_dir=tmp_path / "pids",
        enter=enter_instance(registry.namespace, limits),
    )
    found = discover(clean.names)
    assert found.namespaces and found.links and found.nft_tables and found.cgroups
    assert found.iptables_rules or not host_uses_docker_user()
    assert found.sysctl_claim
    assert len(leftovers(clean)) > 10

    report = teardown(clean.names)
    print("\n".join(report.removed))
    assert report.problems == ()
    assert f"process {pid} in {registry.namespace}" in report.removed
    assert not process.alive(pid)
    assert discover(clean.names).empty
    assert leftovers(clean) == []
    assert sysctls() == before

    again = teardown(clean.names)
    assert (again.removed, again.problems) == ((), ())


def host_uses_docker_user() -> bool:
    out = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True)
    return ":DOCKER-USER" in out.stdout or ":FORWARD DROP" in out.stdout


CHILD = """
import sys
sys.path.insert(0, {repo!r})
from shopnet_netns import build
from tests.netns.helpers import testbed_plan
plan = testbed_plan({port})
print("ready", flush=True)
build(plan)
print("done", flush=True)
"""


def start_build(plan: NetworkPlan) -> subprocess.Popen[str]:
    """`build` in a child process; returns once it is about to start building."""
    port = plan.topology.published_port
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), port=port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def kill(child: subprocess.Popen[str]) -> bool:
    """SIGKILL the child; True when it had finished building first."""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.stdout is not None
    finished = "done" in child.stdout.read()
    child.stdout.close()
    return finished


def test_build_killed_at_any_point_is_torn_down_completely(clean: NetworkPlan) -> None:
    rng = random.Random(int(os.environ.get("SHOPNET_TEST_SEED", "1234")))
    # Spread over a build (~0.1-0.3 s here), plus random points in it.
    delays = [0.0, 0.02, 0.05, 0.1, 0.15, 0.25] + [rng.uniform(0, 0.3) for _ in range(4)]
    partial = 0
    for delay in delays:
        child = start_build(clean)
        time.sleep(delay)  # the kill point, not a wait for a condition
        finished = kill(child)
        state = discover(clean.names)
        partial += not finished and not state.empty
        print(f"killed after {delay:.3f}s: finished={finished}, found {state.brief()}")
        report = teardown(clean.names)
        assert report.problems == (), report.problems
        assert leftovers(clean) == [], f"after a kill at {delay:.3f}s"
    assert partial, "no kill landed in the middle of a build; the test proved nothing"

    build(clean)  # and a fresh build works
    assert [r.describe() for r in isolation.check(clean) if not r.ok] == []


def test_build_completes_what_a_killed_build_left(clean: NetworkPlan) -> None:
    for delay in (0.03, 0.08, 0.12):
        child = start_build(clean)
        time.sleep(delay)
        kill(child)
        build(clean)
        bad = [r.describe() for r in isolation.check(clean) if not r.ok]
        assert bad == [], f"after a kill at {delay}s"
        teardown(clean.names)
