"""A lab's life on one stack: start (bound measured, fault planted), hints, check, reset.

What is running is kept in the stack's state directory (`Layout.lab_file`, 0600):
the lab's name, the p99 bound measured before the fault, and how many hints were
given. `shopnet down` deletes it with the rest of the stack's state.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from shopnet.errors import ConfigError, StateError
from shopnet.lab import validate
from shopnet.lab.catalog import BY_NAME, Lab
from shopnet.runtime.base import Driver

BOUND_FACTOR = 3.0
BOUND_MARGIN_MS = 25.0
"""p99 bound: 3× the p99 measured before the fault, and never less than that plus 25 ms
(a few-ms baseline on a shared machine is noisy)."""
BASELINE_RUNS = 2
SETTLE_S = 20.0


@dataclass(slots=True)
class Running:
    lab: str
    baseline_p99_ms: float
    bound_ms: float
    hints_given: int = 0

    def save(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)

    @classmethod
    def load(cls, path: Path) -> Running | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise StateError(
                f"{path} is unreadable ({exc}); `shopnet lab reset` starts over"
            ) from None


def lab_named(name: str) -> Lab:
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise ConfigError(f"no lab {name!r} (labs: {known})") from None


def _file(driver: Driver) -> Path:
    return driver.layout.lab_file


def current(driver: Driver) -> Running | None:
    return Running.load(_file(driver))


def require_current(driver: Driver) -> tuple[Running, Lab]:
    running = current(driver)
    if running is None:
        raise StateError("no lab is running (start one with `shopnet lab start NAME`)")
    return running, lab_named(running.lab)


def check_fits(lab: Lab, driver: Driver) -> None:
    """One line naming what the lab needs when the running stack is not it."""
    wiring = str(driver.wiring) if driver.wiring is not None else ""
    hosts = driver.variant.hosts
    if driver.mode == lab.mode and wiring == lab.wiring and hosts == lab.hosts:
        return
    running = (
        f"{driver.mode}"
        + (f" {wiring}" if wiring else "")
        + (f" on {hosts} hosts" if hosts > 1 else "")
    )
    up = f"shopnet up --mode {lab.mode}" + (f" --hosts {lab.hosts}" if lab.hosts > 1 else "")
    raise ConfigError(
        f"lab {lab.name} needs a {lab.mode} stack with the {lab.wiring} wiring on "
        f"{'one host' if lab.hosts == 1 else f'{lab.hosts} hosts'} (running: {running}); "
        f"`shopnet down`, then `{up}`"
    )


def baseline_p99(driver: Driver) -> float:
    """The higher of a few p99 runs: a bound that a fixed stack passes again."""
    gateway = validate.gateway_of(driver)
    return max(validate.p99_ms(gateway) for _ in range(BASELINE_RUNS))


def bound_for(baseline_ms: float) -> float:
    return max(baseline_ms * BOUND_FACTOR, baseline_ms + BOUND_MARGIN_MS)


def start(driver: Driver, name: str) -> tuple[Lab, Running]:
    lab = lab_named(name)
    check_fits(lab, driver)
    if (running := current(driver)) is not None:
        raise StateError(f"lab {running.lab} is running; `shopnet lab reset` first")
    failing = [o for o in validate.validate(driver) if not o.ok]
    if failing:
        raise StateError(
            f"the stack fails `shopnet validate` before any fault ({failing[0].line().strip()}); "
            "a lab needs a working stack"
        )
    baseline = baseline_p99(driver)
    running = Running(lab.name, round(baseline, 2), round(bound_for(baseline), 2))
    running.save(_file(driver))  # first: a crash while planting still leaves `reset` to run
    lab.plant(driver)
    return lab, running


def check(driver: Driver) -> tuple[Lab, list[validate.Outcome]]:
    running, lab = require_current(driver)
    note = f" (measured {running.baseline_p99_ms:.1f} ms before the fault)"
    outcomes = validate.validate(driver, p99_bound_ms=running.bound_ms, note=note)
    if not outcomes[-1].ok:  # tail latency is noisy: a real slowdown is there twice
        outcomes[-1] = validate.p99(validate.gateway_of(driver), running.bound_ms, note)
    return lab, outcomes


def hint(driver: Driver) -> tuple[Lab, int, str]:
    """The next hint (the last one again once all were given): (lab, its number, text)."""
    running, lab = require_current(driver)
    number = min(running.hints_given + 1, len(lab.hints))
    running.hints_given = number
    running.save(_file(driver))
    return lab, number, lab.hints[number - 1]


def reset(driver: Driver) -> Lab | None:
    """Undo the running lab's fault (whatever the student did meanwhile) and wait until the
    stack is healthy again; None when no lab was running."""
    running = current(driver)
    if running is None:
        return None
    lab = lab_named(running.lab)
    lab.undo(driver)
    _file(driver).unlink(missing_ok=True)  # the fault is gone, even if the stack is slow to heal
    settle(driver)
    return lab


def settle(driver: Driver, timeout: float = SETTLE_S) -> None:
    """Wait until the stack works again end to end: a restarted Redis, a product service
    reconnecting to it, database pools whose connections timed out while the way was cut."""
    gateway = validate.gateway_of(driver)
    checks: tuple[Callable[[], validate.Outcome], ...] = (
        lambda: validate.health(driver),
        lambda: validate.main_path(gateway),
        lambda: validate.cache(gateway),
        lambda: validate.catalog(gateway),
        lambda: validate.order(gateway),
    )
    deadline = time.monotonic() + timeout
    while True:
        failing = next((o for o in (check() for check in checks) if not o.ok), None)
        if failing is None:
            return
        if time.monotonic() > deadline:
            raise StateError(f"not working again within {timeout:.0f} s: {failing.line()}")
        time.sleep(0.5)
