"""Capacity at a latency target: the highest paced rate a path carries with p99 ≤ target.

Closed-loop peak req/s says what a path does flat out, queueing included; what people
plan with is "how much can it carry while p99 stays under X" (dotnet/eShop#25). With
wrk's open-loop pacing (workloads.lua: latency from each request's scheduled time, so
queueing is not hidden) this bisects the rate between 0 and the closed-loop peak: a
rate passes when the corrected p99 is within the target, no request failed (stock
refusals excepted on the order path: answered, rightly) and wrk kept the pace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shopnet.bench.wrk import WrkResult

P99_TARGET_MS = 10.0
KEPT_PACE = 0.95
"""Achieved/requested rate below this: the rate was not carried, whatever the latency."""


@dataclass(frozen=True, slots=True)
class Probe:
    rate: float
    achieved: float
    p99_ms: float
    failed: int
    passed: bool


@dataclass(frozen=True, slots=True)
class Capacity:
    rate: float
    """The highest rate that passed (0: none did, not even the lowest probed)."""
    target_ms: float
    ceiling: float
    """The closed-loop peak the search started under."""
    probes: tuple[Probe, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "target_ms": self.target_ms,
            "ceiling": self.ceiling,
            "probes": [vars_of(p) for p in self.probes],
        }


def vars_of(probe: Probe) -> dict[str, Any]:
    return {k: getattr(probe, k) for k in Probe.__dataclass_fields__}


def judge(rate: float, result: WrkResult, target_ms: float) -> Probe:
    latency = result.corrected or result.latency
    unexpected = result.failed - (result.conflicts or 0)
    passed = latency.p99 <= target_ms and unexpected == 0 and result.rps >= KEPT_PACE * rate
    return Probe(round(rate), round(result.rps, 1), latency.p99, unexpected, passed)


def search(
    measure: Callable[[float], WrkResult],
    ceiling: float,
    *,
    target_ms: float = P99_TARGET_MS,
    steps: int = 6,
) -> Capacity:
    """Bisect (0, ceiling] in `steps` paced runs; each run is `measure(rate)`."""
    low, high = 0.0, ceiling
    probes = []
    rate = ceiling * 0.5
    for _ in range(steps):
        probe = judge(rate, measure(rate), target_ms)
        probes.append(probe)
        if probe.passed:
            low = rate
        else:
            high = rate
        rate = (low + high) / 2
    return Capacity(round(low), target_ms, round(ceiling), tuple(probes))
