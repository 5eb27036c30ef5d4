"""One scenario after another against the running stack: load, fault, lift, check, heal.

Per scenario (all bounded): `seconds` of load; the fault at a quarter of it (at least
WARMUP_S + 2 s in, so there is a baseline); a lasting fault (netem) is lifted after
`fault_s`; then the orders are checked and the stack must be healthy again before the
next scenario starts (HEAL_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from shopnet.chaos import faults, measure, verify
from shopnet.chaos.load import Load, LoadSpec
from shopnet.chaos.results import ScenarioResult
from shopnet.chaos.scenarios import Scenario
from shopnet.errors import ConfigError
from shopnet.runtime import tokens
from shopnet.runtime.base import Driver
from shopnet.runtime.confine import secret_store
from shopnet.runtime.progress import Progress

WARMUP_S = 1.0
BUCKET_S = 1.0
HEAL_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    seconds: float = 20.0
    fault_s: float = 5.0
    connections: int = 16

    def __post_init__(self) -> None:
        if not 8 <= self.seconds <= 300:
            raise ConfigError("--seconds must be between 8 and 300")
        if not 1 <= self.fault_s <= self.seconds / 2:
            raise ConfigError("--fault-seconds must be between 1 and half of --seconds")
        if not 1 <= self.connections <= 256:
            raise ConfigError("--connections must be between 1 and 256")

    @property
    def fault_at(self) -> float:
        """On a bucket edge, so the bucket before the fault holds no effect of it."""
        return max(WARMUP_S + 2 * BUCKET_S, round(self.seconds / 4 / BUCKET_S) * BUCKET_S)


def run(
    driver: Driver, scenario: Scenario, options: ChaosOptions, *, run_id: str, progress: Progress
) -> ScenarioResult:
    _, rows = faults.wait_healthy(driver, HEAL_TIMEOUT_S)
    customer = f"chaos-{run_id}-{scenario.name}"
    spec = LoadSpec(
        url=driver.gateway_url, seconds=options.seconds, order_share=scenario.order_share,
        customer=customer, connections=options.connections,
        headers=tokens.admin_headers(secret_store(driver.layout)),
    )  # fmt: skip
    progress.info(f"chaos: {scenario.name}: {scenario.what} ({options.seconds:g} s of load)")
    pid = faults.target_pid(driver, scenario)
    load, injected, fault_at, lifted_at = asyncio.run(
        _under_load(driver, scenario, options, spec, pid)
    )
    stored = asyncio.run(verify.stored_orders(spec.url, customer, headers=spec.headers))
    orders = verify.check(load.result, stored)
    healed, _ = faults.wait_healthy(driver, HEAL_TIMEOUT_S)
    recovery = measure.recovery(
        load.result.samples, fault_at=fault_at, lifted_at=lifted_at,
        end=options.seconds, warmup_s=WARMUP_S, bucket_s=BUCKET_S,
    )  # fmt: skip
    return ScenarioResult.make(
        driver.mode, scenario, injected, options, (fault_at, lifted_at), load.result, recovery,
        orders,
        healthy_after_s=healed, bucket_s=BUCKET_S,
        products=sum(r.service == "product" for r in rows),
    )  # fmt: skip


async def _under_load(
    driver: Driver, scenario: Scenario, options: ChaosOptions, spec: LoadSpec, pid: int | None
) -> tuple[Load, str, float, float]:
    """(the load, what was done, when the fault was in force, when it was lifted)."""
    load = Load(spec)
    running = asyncio.create_task(load.run())
    await asyncio.sleep(options.fault_at)
    try:
        # From the moment we start: a netem fault takes effect link by link while it is
        # applied (0.5 s in docker mode); a signal is instantaneous either way.
        fault_at = load.now()
        injected = await asyncio.to_thread(faults.inject, driver, scenario, pid)
        lifted_at = fault_at
        if scenario.lasts:
            await asyncio.sleep(max(0.0, fault_at + options.fault_s - load.now()))
            await asyncio.to_thread(faults.lift, driver, scenario)
            lifted_at = load.now()
    except BaseException:
        await asyncio.to_thread(faults.lift, driver, scenario)
        running.cancel()
        raise
    await running
    return load, injected, fault_at, lifted_at


def run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
