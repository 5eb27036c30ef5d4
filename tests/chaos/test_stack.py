"""`shopnet chaos` against a real stack, one per mode (local, netns), in a private state
directory: kill -9 a product instance and PostgreSQL under load; no acknowledged order
may be lost or stored twice, and the stack must serve again within a bound."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.support.servers import scratch_dir
from tests.support.stack import shopnet

pytestmark = [pytest.mark.slow]

FIRST_SUCCESS_WITHIN = 10.0
"""Seconds from the fault to the first success of a request sent after it."""


@pytest.fixture(scope="module", params=["local", "netns"])
def results(request: pytest.FixtureRequest) -> Iterator[dict[str, dict]]:
    mode = request.param
    if mode == "netns" and os.geteuid() != 0:
        pytest.skip("netns mode needs root")
    root = scratch_dir(f"shopnet-chaos-{mode}-")
    shopnet(root, "up", "--mode", mode, "--scale", "product=2")
    try:
        run = shopnet(
            root, "chaos", "--mode", mode, "--scenarios", "kill-product,kill-postgres",
            "--seconds", "12", "--json", "-o", str(root / "chaos"), check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        scenarios = json.loads(run.stdout)["scenarios"]
        assert (root / "chaos" / "report.md").is_file()
        yield {s["scenario"]: s for s in scenarios}
    finally:
        shopnet(root, "down", "--mode", mode, "--volumes", check=False)


@pytest.mark.parametrize("scenario", ["kill-product", "kill-postgres"])
def test_no_acknowledged_order_is_lost_or_duplicated(results: dict, scenario: str) -> None:
    got = results[scenario]
    print(
        f"\n{got['mode']} {scenario}: {json.dumps({k: v for k, v in got.items() if k != 'timeline'})}"
    )
    assert got["orders_acked"] > 50  # the orders really ran
    assert got["orders_lost"] == 0
    assert got["orders_duplicated"] == 0
    assert got["orders_stored"] >= got["orders_acked"]


@pytest.mark.parametrize("scenario", ["kill-product", "kill-postgres"])
def test_the_stack_serves_again_within_a_bound(results: dict, scenario: str) -> None:
    got = results[scenario]
    assert got["injected"].startswith(f"SIGKILL to {scenario.removeprefix('kill-')}-1")
    assert got["first_success_s"] is not None
    assert got["first_success_s"] < FIRST_SUCCESS_WITHIN
    # Back within 10% is reported, not asserted: on 2 shared cores a bucket swings more
    # than that. Serving at a real rate again by the end of the run is asserted.
    end = got["timeline"]["ok"][-4:-1]  # the last full buckets
    assert sum(end) / len(end) >= 0.5 * got["baseline_rps"], got["timeline"]
    assert got["healthy_after_s"] < 60
