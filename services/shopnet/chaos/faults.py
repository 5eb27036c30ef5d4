"""Injecting a scenario's fault into the running stack, lifting it, and waiting for health.

A signal goes to the instance's main process as `status` reports it — in netns mode
the init of its PID namespace (SIGKILL ends the namespace; SIGTERM is forwarded), in
docker mode the container's main process seen from the host — as a crash or the OOM
killer would, so Docker's restart policy and our supervisor both see an exit they did
not ask for (`docker kill` with the stop signal would count as a deliberate stop).
"""

from __future__ import annotations

import os
import time

from shopnet.chaos.scenarios import Scenario
from shopnet.errors import DriverError, StateError
from shopnet.runtime.base import Driver, InstanceStatus
from shopnet.runtime.capabilities import TierShaping, unavailable

HEALTHY = {"ready", "degraded"}


def target_pid(driver: Driver, scenario: Scenario) -> int | None:
    """The process a signal scenario hits, looked up before the load; None for a netem
    scenario."""
    if scenario.instance is None:
        return None
    row = next((r for r in driver.status(usage=False) if r.instance == scenario.instance), None)
    if row is None or not row.pid:
        raise StateError(f"{scenario.instance} is not running (nothing to kill)")
    return row.pid


def inject(driver: Driver, scenario: Scenario, pid: int | None) -> str:
    if pid is not None:
        try:
            os.kill(pid, scenario.signal)
        except OSError as exc:
            raise DriverError(f"{scenario.signal.name} to {scenario.instance}: {exc}") from None
        return f"{scenario.signal.name} to {scenario.instance} (pid {pid})"
    assert scenario.tier is not None
    if not isinstance(driver, TierShaping):
        raise unavailable(driver.mode, "netem")
    return driver.netem(
        scenario.tier, delay_ms=0.0, loss_pct=scenario.loss_pct, clear=False,
        rate=scenario.parsed_rate(),
    )  # fmt: skip


def lift(driver: Driver, scenario: Scenario) -> None:
    if scenario.tier is not None and isinstance(driver, TierShaping):
        driver.netem(scenario.tier, delay_ms=0.0, loss_pct=0.0, clear=True)


def wait_healthy(driver: Driver, timeout: float) -> tuple[float, list[InstanceStatus]]:
    """(seconds until every instance is ready or degraded again, their rows then);
    StateError after `timeout`."""
    started = time.monotonic()
    while True:
        rows = driver.status(usage=False)
        sick = [r.instance for r in rows if r.health not in HEALTHY]
        if not sick:
            return time.monotonic() - started, rows
        if time.monotonic() - started > timeout:
            raise StateError(
                f"not healthy again within {timeout:.0f} s: {', '.join(sick)} "
                "(see `shopnet status`)"
            )
        time.sleep(1.0)
