"""`shopnet cycle`: every mode up → main path + one order → down, several rounds in a row
on this machine, then a check that nothing of ours is left.

What it proves is repeatability: a mode that starts once but not twice on the same machine
(an address pool Docker still holds, a namespace or route a `down` forgot) fails its
second round here. Each mode runs its rounds back to back (same engine, same kernel
state), in a state directory and under a prefix of its own (CYCLE_PREFIX), so a person's
stack is never touched; fixed resources it shares with theirs (port 8080, the tier
subnets) stop it at preflight instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import ConfigError, ShopnetError
from shopnet.lab import validate
from shopnet.runtime import variant
from shopnet.runtime.base import DRIVERS, Driver, make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Topology

CYCLE_PREFIX = "snc"
DEFAULT_MODES = (
    "local",
    "netns:routed",
    "netns:attached",
    "netns:hosts2",
    "docker:tiered",
    "docker:single",
    "swarm",
)
DEFAULT_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Round:
    mode: str
    number: int
    started_at: str
    """Wall clock (UTC, HH:MM:SS) when `up` began."""
    up_s: float | None = None
    """`up` until every instance is ready; None when it failed."""
    served: bool = False
    """The main path answered and one order was placed."""
    down_s: float | None = None
    """`down --volumes` until it returned without problems; None when it failed."""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.up_s is not None and self.served and self.down_s is not None


@dataclass(frozen=True, slots=True)
class CycleReport:
    rounds: tuple[Round, ...]
    leftovers: dict[str, list[str]]
    """Per mode, what of ours still exists after its last round (empty lists when clean)."""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rounds) and not any(self.leftovers.values())


def run(
    modes: Sequence[str],
    rounds: int,
    *,
    topology: Topology,
    root: Path,
    progress: Progress,
    exercise: Callable[[Driver], None] | None = None,
) -> CycleReport:
    """`rounds` rounds of each mode in turn; a failed round is recorded and the next runs."""
    topology = dataclasses.replace(topology, prefix=CYCLE_PREFIX)
    check = exercise or main_path_and_order
    done: list[Round] = []
    leftovers: dict[str, list[str]] = {}
    for mode in modes:
        chosen = variant.parse(mode, topology)
        driver = make_driver(
            chosen.mode, topology=topology, root=root, progress=progress, variant=chosen.variant
        )
        if driver.present():  # a killed earlier cycle's: the prefix is the cycle's own
            progress.warn(f"{mode}: removing what an earlier cycle left")
            driver.down(volumes=True)
        for number in range(1, rounds + 1):
            with progress.step(f"{mode}, round {number}/{rounds}"):
                done.append(one_round(driver, mode, number, check))
        leftovers[mode] = what_is_left(driver)
    return CycleReport(tuple(done), leftovers)


def one_round(driver: Driver, mode: str, number: int, check: Callable[[Driver], None]) -> Round:
    """up → `check(driver)` → down --volumes, timed; errors are the round's result."""
    started_at = time.strftime("%H:%M:%S", time.gmtime())
    up_s, served, error = None, False, ""
    started = time.monotonic()
    try:
        driver.up(scale={})
        up_s = time.monotonic() - started
        check(driver)
        served = True
    except (ShopnetError, OSError, AssertionError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    except BaseException:  # ^C: nothing of ours stays behind, then stop
        with contextlib.suppress(ShopnetError):
            driver.down(volumes=True)
        raise
    started = time.monotonic()
    down_s = None
    try:
        result = driver.down(volumes=True)
        if result.problems:
            error = error or "down: " + "; ".join(result.problems)
        else:
            down_s = time.monotonic() - started
    except ShopnetError as exc:
        error = error or f"down: {exc}"
    return Round(
        mode, number, started_at, up_s, served, down_s, error.splitlines()[0][:200] if error else ""
    )


def what_is_left(driver: Driver) -> list[str]:
    """Anything of the mode's stack still there: named leftovers, else its state/objects."""
    try:
        found = driver.leftovers()
        if not found and driver.present():
            found = [f"state, processes or network objects of the {driver.mode} stack"]
    except ShopnetError as exc:
        return [f"could not check: {exc}"]
    return found


def main_path_and_order(driver: Driver) -> None:
    """The main path answers and one order is placed: `shopnet validate`'s own checks, as
    the stack's admin. Tried three times, a second apart: right after `up` the gateway may
    still be learning the instances' addresses."""
    gateway = validate.gateway_of(driver)
    for check in (validate.main_path, validate.order):
        for attempt in range(3):
            outcome = check(gateway)
            if outcome.ok:
                break
            if attempt == 2:
                raise AssertionError(outcome.line())
            time.sleep(1.0)


def table(report: CycleReport) -> str:
    """The rounds as a Markdown table, then what was left per mode."""

    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    lines = [
        "| mode | round | started (UTC) | up s | main path + order | down s | error |",
        "|---|---:|---|---:|---|---:|---|",
    ]
    for r in report.rounds:
        served = "ok" if r.served else "–"
        error = r.error.replace("|", "/")
        lines.append(
            f"| {r.mode} | {r.number} | {r.started_at} | {seconds(r.up_s)} | {served} "
            f"| {seconds(r.down_s)} | {error} |"
        )
    lines.append("")
    for mode, found in report.leftovers.items():
        lines.append(f"left after {mode}: " + (", ".join(found) if found else "nothing"))
    lines.append("")
    good = sum(r.ok for r in report.rounds)
    lines.append(f"{good}/{len(report.rounds)} rounds ok; " + ("clean" if report.ok else "FAILED"))
    return "\n".join(lines) + "\n"


def parse_modes(text: str, topology: Topology) -> tuple[str, ...]:
    """`--modes`: comma-separated `mode[:wiring[:discovery]][:hostsN]`, each checked now."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m.partition(":")[0] not in DRIVERS]
    if unknown or not modes:
        raise ConfigError(
            f"--modes {text!r}: choose from {', '.join(DRIVERS)}, each optionally with "
            ":wiring[:discovery] and, for netns, :hostsN (e.g. netns:attached,docker:single)"
        )
    for mode in modes:
        variant.parse(mode, topology)  # a wiring the mode lacks fails now, not mid-cycle
    return modes
