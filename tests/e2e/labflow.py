"""One lab's whole exercise on a running stack, shared by the netns, hosts and docker lab tests:
start makes `check` fail with the lab's message, the reference fix makes it pass, and
`reset` alone restores a stack that passes `validate` with the lab's bound."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from shopnet.lab import session
from shopnet.lab.catalog import BY_NAME
from shopnet.runtime.base import Driver, make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from tests.support.servers import scratch_dir
from tests.support.stack import require_default_resources, shopnet

Shopnet = Callable[..., subprocess.CompletedProcess[str]]
"""`shopnet ARGS…` on the test's stack (its state dir, topology, mode); never raises."""


@contextlib.contextmanager
def netns_stack(name: str, *up: str) -> Iterator[Path]:
    """A netns stack of the default topology in a scratch state dir, `up` with `up`'s options."""
    require_default_resources("netns")
    path = scratch_dir(f"shopnet-e2e-{name}-")
    shopnet(path, "up", "--mode", "netns", *up)
    try:
        yield path
    finally:
        shopnet(path, "down", "--mode", "netns", "--volumes", check=False)


def netns_driver(root: Path) -> Driver:
    return make_driver(
        "netns", topology=default_topology(), root=root, progress=Progress(quiet=True)
    )


def failing_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def exercise(run: Shopnet, driver: Driver, name: str, *, all_hints: bool = True) -> None:
    this = BY_NAME[name]
    started = run("lab", "start", name)
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout.startswith(f"lab {name} started: {this.symptom}")

    checked = run("lab", "check")
    print(checked.stdout)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    expectation, text = this.expect
    wanted = [line for line in failing_lines(checked.stdout) if f"FAIL  {expectation}:" in line]
    assert wanted and text in wanted[0], checked.stdout
    assert checked.stdout.splitlines()[-1] == f"lab {name}: " + (
        f"{len(failing_lines(checked.stdout))} expectation(s) still fail"
    )
    hints = [run("lab", "hint").stdout.strip() for _ in this.hints[: None if all_hints else 1]]
    assert hints[0] == f"hint 1 of {len(this.hints)}: {this.hints[0]}"
    assert len(set(hints)) == len(hints)

    this.fix(driver)  # the reference solution: what docs/labs.md shows
    session.settle(driver)
    fixed = run("lab", "check")
    print(fixed.stdout)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout.splitlines()[-1] == f"lab {name}: solved, every expectation holds"
    assert run("lab", "reset").stdout.strip() == f"lab {name} reset"

    # Again, and this time `reset` alone.
    assert run("lab", "start", name).returncode == 0
    bound = json.loads(driver.layout.lab_file.read_text())["bound_ms"]
    assert run("lab", "reset").stdout.strip() == f"lab {name} reset"
    assert not driver.layout.lab_file.exists()
    after = run("validate", "--p99-bound", str(bound))
    assert after.returncode == 0, after.stdout + after.stderr
